import pytest
from django.urls import reverse

from models_zoo.models import EpochMetric, ModelRun, Prediction
from tests.factories import pixel_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.org", "a-long-admin-password-1")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def run():
    dataset = pixel_dataset("admin", [[0]], ["test"])
    run = ModelRun.objects.create(name="shown", kind="trained", architecture="gapnet_pl", dataset=dataset)
    EpochMetric.objects.create(
        run=run, epoch=1, train_loss=0.5, val_macro_f1=0.61803, learning_rate=0.01, samples_per_second=3.0
    )
    Prediction.objects.create(run=run, sample=dataset.samples.get(), probabilities=[0.1] * 13, classes=[0])
    return run


def test_a_runs_admin_page_shows_its_epochs_inline(admin_client, run):
    page = admin_client.get(reverse("admin:models_zoo_modelrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert "0.61803" in page.content.decode()


@pytest.mark.parametrize("model", ["modelrun", "epochmetric", "prediction"])
def test_runs_epochs_and_predictions_are_listed_in_the_admin(admin_client, run, model):
    page = admin_client.get(reverse(f"admin:models_zoo_{model}_changelist"))
    assert page.status_code == 200
    assert "shown" in page.content.decode()
