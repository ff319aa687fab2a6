"""Bad input round 3: a failure the project foresees (download, extraction, cleaning, config,
weights) reaches the terminal as the project's message and what to do; its traceback is in the
job's log only. Anything else (a bug) keeps its traceback."""

import subprocess
import sys

import pytest
from conftest import DEMO_CONFIG, run_snakemake

from cnnlab.configcheck import ConfigError
from cnnlab.data.cifar10 import CifarFormatError
from cnnlab.data.extract import ArchiveTooLargeError, UnsafeArchiveError
from cnnlab.data.petimages import PetImagesError
from cnnlab.data.sources import DataSourceError
from cnnlab.jobio import ExpectedError, OutputWriteError

JOB = """
from cnnlab.jobio import log_to
from {module} import {error}
with log_to({log!r}):
    print("working")
    raise {error}({message!r})
"""


def run_job(
    tmp_path,
    module,
    error,
    message="data.petimages.path: /nowhere does not exist; point it at a copy",
):
    log = tmp_path / "job.log"
    script = JOB.format(module=module, error=error, log=str(log), message=message)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    return result, log.read_text()


def test_every_error_the_project_raises_on_purpose_is_an_expected_error():
    for error in (
        DataSourceError,
        UnsafeArchiveError,
        ArchiveTooLargeError,
        PetImagesError,
        CifarFormatError,
        ConfigError,
        OutputWriteError,
    ):
        assert issubclass(error, ExpectedError), error
    from cnnlab.models.catsdogs import WeightsError

    assert issubclass(WeightsError, ExpectedError) and issubclass(WeightsError, FileNotFoundError)


def test_an_expected_failure_shows_its_message_and_logs_its_traceback(tmp_path):
    result, log = run_job(tmp_path, "cnnlab.data.sources", "DataSourceError")
    assert result.returncode == 1
    assert result.stderr == (
        "data.petimages.path: /nowhere does not exist; point it at a copy\n"
        f"(the traceback is in {tmp_path / 'job.log'})\n"
    )
    assert "working" in log and "Traceback (most recent call last)" in log
    assert "DataSourceError: data.petimages.path: /nowhere does not exist" in log


def test_an_unexpected_failure_keeps_its_traceback_on_the_terminal(tmp_path):
    result, log = run_job(tmp_path, "builtins", "KeyError", message="a bug")
    assert result.returncode == 1
    assert (
        "Traceback (most recent call last)" in result.stderr
        and "KeyError: 'a bug'" in result.stderr
    )
    assert "Traceback (most recent call last)" in log


@pytest.mark.workflow
def test_a_failing_download_job_prints_the_message_not_a_traceback(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(f"data:\n  petimages: {{source: path, path: {tmp_path / 'no-copy-here'}}}\n")
    result = run_snakemake(
        tmp_path,
        "results/data/petimages/raw",
        configfiles=(DEMO_CONFIG, overlay),
        cores=1,
        check=False,
    )
    assert result.returncode != 0
    terminal = result.stdout
    assert (
        f"data.petimages.path: {tmp_path / 'no-copy-here'} does not exist; point it at a local copy of the "
        "archive or at the folder it extracts to\n(the traceback is in logs/data/download_petimages.log)"
    ) in terminal
    assert "Traceback" not in terminal and "sources.py" not in terminal, terminal
    log = (tmp_path / "logs/data/download_petimages.log").read_text()
    assert "Traceback (most recent call last)" in log and "DataSourceError" in log
    assert not (tmp_path / "results/data/petimages/raw").exists()


@pytest.mark.workflow
def test_a_config_error_prints_the_message_alone(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("catsdogs:\n  vgg16: {weights: imagenett}\n")
    result = run_snakemake(tmp_path, "--dry-run", configfiles=(DEMO_CONFIG, overlay), check=False)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith(
        "config error at 'catsdogs.vgg16.weights': 'imagenett' is neither"
    ), lines
    assert "File " not in result.stdout and "Traceback" not in result.stdout


def test_imagenet_weights_that_cannot_be_downloaded_say_how_to_work_offline(monkeypatch):
    import keras

    from cnnlab.models.catsdogs import WeightsError, vgg16_base

    def offline(**_):
        raise Exception(
            "URL fetch failure on https://storage.googleapis.com/...notop.h5: None -- [Errno -3]"
        )

    monkeypatch.setattr(keras.applications, "VGG16", offline)
    with pytest.raises(WeightsError) as error:
        vgg16_base((64, 64), "imagenet")
    assert "Could not download VGG16's ImageNet weights (URL fetch failure on" in str(error.value)
    assert (
        "Offline, put vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 in $KERAS_HOME/models/ "
        "(default ~/.keras/models/), set catsdogs.vgg16.weights to the path of a local copy, or to "
        "cifar10 to pretrain the base on CIFAR-10 here."
    ) in str(error.value)
