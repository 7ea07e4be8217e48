from django.core.management.base import CommandError

from study.models import Dataset, Study


def get_dataset(name: str) -> Dataset:
    try:
        return Dataset.objects.get(name=name)
    except Dataset.DoesNotExist:
        known = ", ".join(Dataset.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"no data set named {name!r} (known: {known})") from None


def get_study(name: str) -> Study:
    try:
        return Study.objects.select_related("dataset").get(name=name)
    except Study.DoesNotExist:
        known = ", ".join(Study.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"no study named {name!r} (known: {known})") from None
