"""labkit: the CIFAR-10 CNN labs as a library (data, models, one training loop, reports)."""
from ._version import __version__
from .config import TrainConfig
from .data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, compute_mean_std, load_cifar10, read_cifar_folder
from .errors import (CheckpointError, ConfigError, DataError, DataMissingError, LabkitError, NonFiniteLossError,
                     RunBusyError, RunExistsError)
from .evaluate import evaluate
from .models import count_params, get_model, list_models, load_model
from .plots import plot_confusion_matrix, plot_histories, plot_history, show_images
from .summary import print_summary, profile_flops, show_source
from .runs import RunResult, load_run
from .train import fit
