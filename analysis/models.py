from django.db import models

from study.models import Study


class ReportPreface(models.Model):
    """The paragraph a study's report opens with, above its tables: where its data and readers come from
    and what to keep in mind reading it (pilot data, a short training, simulated readers)."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="report_preface")
    text = models.TextField(help_text="Shown at the top of the study's report page, in index.html and report.json.")

    def __str__(self) -> str:
        return f"Preface of the report of {self.study}"
