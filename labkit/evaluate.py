"""Loss/accuracy over a loader, per-class accuracy and confusion matrix."""
import numpy as np
import torch
import torch.nn.functional as F

from .device import autocast_context, to_device


@torch.inference_mode()
def evaluate(model, loader, device=None, amp_dtype=None, return_preds=False, flip=False, channels_last=False):
    """Mean cross-entropy loss and accuracy (%) of ``model`` over ``loader``.

    With ``return_preds`` also the predicted and true labels (numpy arrays). ``channels_last``: the model's
    memory format (each batch converted on the device, after the copy). ``flip``: test-time
    flips, each image's class probabilities averaged with its mirror image's (the loss is that
    average's cross-entropy).
    """
    model.eval()
    device = device or next(model.parameters()).device
    total, correct, loss_sum = 0, torch.zeros((), device=device), torch.zeros((), device=device)
    preds, targets = [], []
    for x, y in loader:
        x, y = to_device(x, y, torch.device(device), channels_last)
        with autocast_context(device, amp_dtype):
            out = model(x)
            mirrored = model(torch.flip(x, dims=[3])) if flip else None
        out = out.float()
        if flip:  # log of the averaged probabilities: cross_entropy's log_softmax leaves them as they are
            out = ((out.softmax(1) + mirrored.float().softmax(1)) / 2).clamp_min(1e-12).log()
        loss_sum += F.cross_entropy(out, y, reduction="sum")
        p = out.argmax(1)
        correct += (p == y).sum()
        total += len(y)
        if return_preds:
            preds.append(p.cpu())
            targets.append(y.cpu())
    res = {"loss": loss_sum.item() / max(total, 1), "acc": 100.0 * correct.item() / max(total, 1), "n": total}
    if return_preds:
        res["preds"] = torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)
        res["targets"] = torch.cat(targets).numpy() if targets else np.zeros(0, dtype=np.int64)
    return res


def confusion(targets, preds, num_classes):
    """scikit-learn's confusion matrix (rows: true class, columns: predicted)."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(targets, preds, labels=list(range(num_classes)))


def per_class_accuracy(cm, classes):
    """{class name: accuracy % (None for a class absent from the targets)} from a confusion matrix."""
    cm = np.asarray(cm)
    out = {}
    for i, name in enumerate(classes):
        n = cm[i].sum()
        out[name] = round(100.0 * cm[i, i] / n, 2) if n else None
    return out
