"""Loss/accuracy over a loader, per-class accuracy and confusion matrix."""
import numpy as np
import torch
import torch.nn.functional as F

from .device import autocast_context, to_device


def shifted(x, dy, dx):
    """``x`` (NCHW) moved by ``dy``, ``dx`` pixels, the edge filled by reflection (the image's own pixels, as
    airbench's test-time translations do)."""
    p = max(abs(dy), abs(dx))
    padded = F.pad(x, (p, p, p, p), mode="reflect")
    return padded[:, :, p + dy:p + dy + x.shape[2], p + dx:p + dx + x.shape[3]]


def views_of(x, flip=False, shift=0):
    """The views of a batch that test-time augmentation averages: the batch, with ``shift`` > 0 also moved by that
    many pixels up, down, left and right, and with ``flip`` each of those mirrored (flip and shift 1: 10 views)."""
    views = [x] + [shifted(x, dy, dx) for dy, dx in ((shift, 0), (-shift, 0), (0, shift), (0, -shift))] * bool(shift)
    return views + [torch.flip(v, dims=[3]) for v in views] * bool(flip)


@torch.inference_mode()
def evaluate(model, loader, device=None, amp_dtype=None, return_preds=False, flip=False, channels_last=False, shift=0):
    """Mean cross-entropy loss and accuracy (%) of ``model`` over ``loader``.

    With ``return_preds`` also the predicted and true labels (numpy arrays). ``channels_last``: the model's
    memory format (each batch converted on the device, after the copy). ``flip`` / ``shift``: test-time
    augmentation, each image's class probabilities averaged over its views (:func:`views_of`: its mirror image,
    its copies moved by ``shift`` pixels); the loss is that average's cross-entropy.
    """
    model.eval()
    device = device or next(model.parameters()).device
    total, correct, loss_sum = 0, torch.zeros((), device=device), torch.zeros((), device=device)
    preds, targets = [], []
    for x, y in loader:
        x, y = to_device(x, y, torch.device(device), channels_last)
        with autocast_context(device, amp_dtype):
            outs = [model(v) for v in views_of(x, flip, shift)]
        out = outs[0].float()
        if len(outs) > 1:  # log of the averaged probabilities: cross_entropy's log_softmax leaves them as they are
            out = (sum(o.float().softmax(1) for o in outs) / len(outs)).clamp_min(1e-12).log()
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
