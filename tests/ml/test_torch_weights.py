"""The restricted reader of legacy PyTorch weight files (ml.torch_weights)."""

import collections
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from ml.torch_weights import LEGACY_MAGIC, LEGACY_PROTOCOL, UnsafeWeightsError, load_state_dict


@pytest.fixture
def fake_torch(monkeypatch):
    """Importable stand-ins named like torch's, so pickle can write the same opcodes torch does."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    FloatStorage.__module__ = "torch"
    FloatStorage.__qualname__ = "FloatStorage"

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2, torch._utils = (
        FloatStorage,
        _rebuild_tensor_v2,
        utils,
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Tensor:
    def __init__(self, key, array, rebuild, storage_type):
        self.key, self.array, self.rebuild, self.storage_type = key, array, rebuild, storage_type

    def __reduce__(self):
        stride = tuple(s // self.array.itemsize for s in self.array.strides)
        storage = ("storage", self.storage_type, self.key, "cpu", self.array.size, None)
        return (
            self.rebuild,
            (_Pid(storage), 0, self.array.shape, stride, False, collections.OrderedDict()),
        )


class _Pid:
    def __init__(self, pid):
        self.pid = pid


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Pid) else None


def legacy_file(tensors: dict[str, np.ndarray], torch, extra_object=None) -> bytes:
    """Bytes laid out as torch.save's legacy format writes them."""
    import io

    f = io.BytesIO()
    for header in (
        LEGACY_MAGIC,
        LEGACY_PROTOCOL,
        {"protocol_version": 1001, "little_endian": True},
    ):
        pickle.dump(header, f, protocol=2)
    state = collections.OrderedDict(
        (name, _Tensor(str(i), a, torch._utils._rebuild_tensor_v2, torch.FloatStorage))
        for i, (name, a) in enumerate(tensors.items())
    )
    if extra_object is not None:
        state["evil"] = extra_object
    _Pickler(f, protocol=2).dump(state)
    pickle.dump([str(i) for i in range(len(tensors))], f, protocol=2)
    for a in tensors.values():
        f.write(struct.pack("<q", a.size))
        f.write(np.ascontiguousarray(a, "<f4").tobytes())
    return f.getvalue()


def test_a_plain_state_dict_is_read_back_exactly(fake_torch):
    tensors = {
        "conv.weight": np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3),
        "bn.bias": np.array([0.5, -1.5], np.float32),
    }
    out = load_state_dict(legacy_file(tensors, fake_torch))
    assert list(out) == list(tensors)
    for name, a in tensors.items():
        np.testing.assert_array_equal(out[name], a)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/neurotriage-pwned",))


def test_a_file_that_names_any_other_callable_is_refused(fake_torch, tmp_path):
    data = legacy_file({"w": np.zeros(2, np.float32)}, fake_torch, extra_object=_Evil())
    with pytest.raises(UnsafeWeightsError, match="posix.system|os.system"):
        load_state_dict(data)
    assert not os.path.exists("/tmp/neurotriage-pwned")


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(LEGACY_PROTOCOL, 2) + pickle.dumps(print, 2),
        pickle.dumps(12345, 2),
        b"PK\x03\x04 not a legacy file",
        b"",
    ],
)
def test_headers_that_name_classes_or_are_malformed_are_refused(payload):
    with pytest.raises(UnsafeWeightsError):
        load_state_dict(payload)


def test_a_truncated_storage_is_refused(fake_torch):
    data = legacy_file({"w": np.ones(16, np.float32)}, fake_torch)
    with pytest.raises(UnsafeWeightsError, match="truncated"):
        load_state_dict(data[:-8])


def test_the_shipped_imagenet_file_has_every_tensor():
    from ml.efficientnet import weights_path

    sd = load_state_dict(weights_path())
    assert len(sd) == 296
    assert sum(v.size for v in sd.values()) == 4_694_073  # 4.69 M, counters included
    assert sd["_fc.weight"].shape == (1000, 1280)
