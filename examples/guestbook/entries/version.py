"""The release marker shown on the index page; tests bump it to see a new release go live."""

VERSION = "1"
