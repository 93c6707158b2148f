from django import forms

from entries.models import Entry


class EntryForm(forms.ModelForm):
    """The form at the bottom of the index page."""

    class Meta:
        model = Entry
        fields = ["name", "message"]
        widgets = {"message": forms.Textarea(attrs={"rows": 3})}
