"""A trained model on disk: ``save_model`` writes it with its registry name, ``load_model`` rebuilds it."""
from ..errors import CheckpointError
from ..files import MODEL_FORMAT, atomic_torch_save, read_checkpoint
from .registry import get_model
from .weights import load_checked_state_dict, load_state_dict_file, unwrap


def save_model(model, path, model_name=None, model_kwargs=None, **meta):
    """Write ``model`` (a module, or its state dict) with its registry name and ``meta`` (epoch, val_acc...)
    as a labkit model checkpoint (atomically: :func:`labkit.files.atomic_path`)."""
    state = model if isinstance(model, dict) else unwrap(model).state_dict()
    atomic_torch_save({"format": MODEL_FORMAT, "model_name": model_name, "model_kwargs": model_kwargs or {},
                       "state_dict": state, **meta}, path)


def load_model(path, model=None, device="cpu"):
    """Load a labkit ``best_model.pth``: into ``model`` (checked) or into a fresh model
    rebuilt from the registry name stored in the file."""
    obj = read_checkpoint(path, "model checkpoint")
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
        if model is None:
            raise CheckpointError(f"{path!r} is not a labkit model checkpoint; pass the model to load it into.")
        return load_state_dict_file(model, path, "model checkpoint").to(device)
    name = obj.get("model_name")
    if model is None:
        if not name:
            raise CheckpointError(f"{path!r} does not name its model; pass the model to load it into.")
        # "weights" only initialises a model (pretrained download/file); the checkpoint replaces them.
        kwargs = {k: v for k, v in obj.get("model_kwargs", {}).items() if k != "weights"}
        model = get_model(name, num_classes=int(obj.get("num_classes") or 10), **kwargs)
    else:
        mine = getattr(unwrap(model), "labkit_name", None)
        if name and mine and name != mine:
            raise CheckpointError(f"{path!r} holds a '{name}' model, but you are loading it into a '{mine}'. "
                                  f"Build get_model('{name}') instead, or pick the checkpoint of a '{mine}' run.")
    load_checked_state_dict(model, obj["state_dict"], f"model checkpoint {path!r} (model '{name}')")
    return model.to(device)
