"""The device and the precision a run trains in: which device, autocast dtype, channels_last, CPU tweaks.

    resolve_device("auto")        the GPU if there is one, else the CPU (a clear error for 'gpu', 'cuda' without one)
    resolve_amp("auto", device)   bf16 on GPUs with compute capability >= 8.0 and on CPUs with native bf16,
                                  fp16 + GradScaler on older GPUs (Colab's T4), fp32 otherwise
    machine_label(device)         the machine in a few words (GPU name, or CPU model and vector unit): each
                                  epoch of a run records it and its precision (a resumed run may go on elsewhere)
"""
import contextlib
import ctypes
import os
import platform
import warnings
from dataclasses import dataclass

import torch

from .errors import ConfigError

DEVICE_HINT = "Use device='auto' (the GPU if there is one), 'cuda', 'cuda:0' or 'cpu'."


def resolve_device(device="auto"):
    """The torch.device for ``device`` ('auto', 'cpu', 'cuda', 'cuda:1', a torch.device); ConfigError
    for a name torch does not know (e.g. 'gpu') or a device this machine does not have."""
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise ConfigError(f"device must be text such as 'cpu' or 'cuda', got {device!r}. {DEVICE_HINT}")
    try:
        dev = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except RuntimeError:
        hint = " ('gpu' is called 'cuda' in PyTorch)" if "gpu" in str(device).lower() else ""
        raise ConfigError(f"unknown device {device!r}{hint}. {DEVICE_HINT}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but no CUDA GPU is visible. "
                              "Use device='cpu' or 'auto' (in Colab: Runtime > Change runtime type > GPU).")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} "
                              f"GPU(s) (cuda:0..cuda:{torch.cuda.device_count() - 1}). {DEVICE_HINT}")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"device {device!r} asked for, but no Apple GPU (MPS) is available. {DEVICE_HINT}")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {device!r} is not one labkit trains on. {DEVICE_HINT}")
    return dev


def autocast_context(device, amp_dtype):
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype)


def to_device(x, y, device, channels_last=False):
    """A batch on the training device, in the model's memory format (converted there, after the copy: a
    pinned CPU batch then copies without blocking). Asynchronous only to a GPU: a copy to the CPU would
    be read before it is done."""
    blocking = device.type != "cuda"
    x, y = x.to(device, non_blocking=not blocking), y.to(device, non_blocking=not blocking)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def cuda_native_bf16(device):
    """True where the GPU computes bf16 natively: compute capability >= 8.0 (A100, L4, H100...).
    Not torch.cuda.is_bf16_supported(): it is also True on a T4 (7.5), where bf16 is emulated and
    cuDNN has no bf16 convolutions (slow fallback kernels or failures)."""
    return tuple(torch.cuda.get_device_capability(device)) >= (8, 0)


def resolve_amp(amp, device):
    """The autocast dtype (None for fp32) and whether a GradScaler is needed. ``auto`` on a GPU:
    bf16 at compute capability >= 8.0, else fp16 with a GradScaler (T4, V100, P100). ``fp16`` on the
    CPU runs that same fp16 + GradScaler road there (torch supports both on the CPU; slow): what the
    tests use to check Colab's T4 path on machines without a GPU."""
    if amp == "off":
        return None, False
    if device.type == "cuda":
        if amp == "fp16" or (amp == "auto" and not cuda_native_bf16(device)):
            return torch.float16, True
        if amp == "bf16" and not cuda_native_bf16(device):
            warnings.warn(f"amp='bf16' on {torch.cuda.get_device_name(device)} (compute capability < 8.0): bf16 is "
                          f"emulated there and slow; amp='auto' picks fp16 with a grad scaler.", stacklevel=3)
        return torch.bfloat16, False
    if amp == "fp16":  # the T4's road (fp16 autocast + GradScaler) on the CPU: slow, for checking that road
        return torch.float16, True
    if amp == "bf16" or (amp == "auto" and cpu_has_fast_bf16()):
        return torch.bfloat16, False
    return None, False


def precision_label(amp_dtype, use_scaler):
    """'bf16', 'fp16 + GradScaler' or 'fp32': what a run trains in (printed and in config.json)."""
    name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(amp_dtype, "fp32")
    return name + (" + GradScaler" if use_scaler else "")


def device_record(device, amp_dtype, use_scaler):
    """GPU name and compute capability (None on the CPU) and the precision, for config.json and setup."""
    rec = {"gpu": None, "gpu_capability": None, "precision": precision_label(amp_dtype, use_scaler)}
    if device.type == "cuda":
        rec.update(gpu=torch.cuda.get_device_name(device),
                   gpu_capability="{}.{}".format(*torch.cuda.get_device_capability(device)))
    return rec


def auto_channels_last(device):
    """channels_last where it pays: CUDA (tensor-core convolutions) and CPUs with oneDNN. Measured on
    the 2-core AVX-512-bf16 CPU (train step, batch 128, 1 thread): simplecnn 88 -> 54 ms fp32 and
    61 -> 35 ms bf16, resnet20 292 -> 225 / 163 -> 155 ms, resnet18 3.07 -> 2.55 s / 1.41 -> 1.26 s."""
    return device.type == "cuda" or (device.type == "cpu" and torch.backends.mkldnn.is_available())


_MALLOC_TUNED = None


def tune_cpu_allocator():
    """Let glibc keep freed memory for reuse (once per process); True if done.

    With glibc's defaults every large block (a batch's activations) goes back to the OS when freed,
    so each CPU training step page-faults tens of MB in again: 1.5 million minor faults per ResNet18
    epoch of the subset, ~9% of its time on 2 cores. These are the settings MALLOC_MMAP_THRESHOLD_ /
    MALLOC_TRIM_THRESHOLD_ would make (the process keeps its peak memory). Not done without glibc,
    when those variables are set, or with LABKIT_TUNE_MALLOC=0."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED is None:
        _MALLOC_TUNED = False
        env = os.environ
        if env.get("LABKIT_TUNE_MALLOC", "1") != "0" and not (env.get("MALLOC_MMAP_THRESHOLD_")
                                                               or env.get("MALLOC_TRIM_THRESHOLD_")):
            try:
                if (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
                    libc = ctypes.CDLL("libc.so.6")
                    m_trim_threshold, m_mmap_threshold = -1, -3
                    _MALLOC_TUNED = bool(libc.mallopt(m_mmap_threshold, 256 << 20)) and bool(
                        libc.mallopt(m_trim_threshold, 1 << 30))
            except (AttributeError, OSError, ValueError):
                pass
    return _MALLOC_TUNED


def cpu_has_fast_bf16():
    """True on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX), where bf16 autocast pays."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


@dataclass(frozen=True)
class Placement:
    """Where and in what precision a run computes: the device, the autocast dtype (None: fp32), whether
    fp16 needs a GradScaler, the memory format, and whether the CPU allocator was tuned."""

    device: torch.device
    amp_dtype: object
    use_scaler: bool
    channels_last: bool
    malloc_tuned: bool = False
    machine: str = ""  # machine_label and precision, e.g. 'Tesla T4, fp16 + GradScaler'

    def record(self):
        """The run's config.json entries for the placement (device, precision, GPU name and capability)."""
        return {"device": str(self.device), "amp_dtype": str(self.amp_dtype).replace("torch.", "")
                if self.amp_dtype else "fp32", "channels_last": self.channels_last, "grad_scaler": self.use_scaler,
                "cpu_malloc_tuned": self.malloc_tuned}

    def describe(self, record):
        """The one line a new run prints about where it trains."""
        return (f"device {record['gpu'] or self.device} | precision {record['precision']} | "
                f"channels_last {self.channels_last}")


def choose_placement(device="auto", amp="auto", channels_last="auto"):
    """The :class:`Placement` for a run's settings (``auto`` picks what pays on this machine)."""
    dev = resolve_device(device)
    amp_dtype, use_scaler = resolve_amp(amp, dev)
    cl = auto_channels_last(dev) if channels_last == "auto" else channels_last
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed 32x32 batches: let cuDNN pick its fastest kernels
    return Placement(dev, amp_dtype, use_scaler, cl, dev.type == "cpu" and tune_cpu_allocator(),
                     f"{machine_label(dev)}, {precision_label(amp_dtype, use_scaler)}")


def machine_info(device):
    """The machine as a dict: CPU model, cores, torch threads and versions, the vector unit torch's CPU kernels
    use, native bf16 (AVX-512 BF16) and AMX, and the GPU's name on CUDA. The benchmarks' tables name it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "device": str(device)}
    info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()  # the vector unit torch's CPU kernels use
    try:
        info["avx512_bf16"] = bool(torch.cpu._is_avx512_bf16_supported())
        info["amx"] = bool(torch.cpu._is_amx_tile_supported())
    except AttributeError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def describe_cpu(info):
    """The CPU of :func:`machine_info`: its model, cores, vector unit and bf16/AMX support."""
    cpu_units = [info["cpu_capability"]] if info.get("cpu_capability") else []
    if "avx512_bf16" in info:
        yes = {True: "yes", False: "no"}
        cpu_units.append(f"AVX-512 BF16 {yes[bool(info['avx512_bf16'])]}, AMX {yes[bool(info.get('amx'))]}")
    return f"{info['cpu']}, {info['cores']} cores" + (f" ({'; '.join(cpu_units)})" if cpu_units else "")


def describe_machine(info):
    """One line for a table's header: the CPU (:func:`describe_cpu`), the device (and the GPU's name)."""
    return describe_cpu(info) + f", device {info['device']}" + (f" ({info['gpu']})" if info.get("gpu") else "")


def machine_label(device):
    """The machine a run computes on, in a few words: the GPU's name on CUDA, else :func:`describe_cpu`, e.g.
    'Intel(R) Xeon(R) Processor, 2 cores (AVX512; AVX-512 BF16 yes, AMX yes)'. Speed differs several-fold
    between these, so a run's epochs say where each one ran."""
    info = machine_info(device)
    return info.get("gpu") or describe_cpu(info)
