from __future__ import annotations

import pytest
import torch

from dltheory.core.device import Precision, resolve_device, seed_everything
from dltheory.core.errors import DeviceError


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    auto = resolve_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert auto.type in (expected, "mps")


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "gpu0"])
def test_unknown_devices_are_clear_errors(spec):
    if spec.startswith("cuda") and not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device(spec)
    else:
        with pytest.raises(DeviceError):
            resolve_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_unavailable_message():
    with pytest.raises(DeviceError, match="--device cpu"):
        resolve_device("cuda:0")


def test_precision_rules_on_cpu():
    cpu = torch.device("cpu")
    with pytest.raises(DeviceError, match="fp16 needs a GPU"):
        Precision.create("fp16", cpu)
    with pytest.raises(DeviceError, match="unknown precision"):
        Precision.create("int8", cpu)
    fp32 = Precision.create("fp32", cpu)
    assert fp32.scaler is None
    assert fp32.autocast_dtype is None
    bf16 = Precision.create("bf16", cpu)
    assert bf16.scaler is None
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    with bf16.autocast():
        assert (a @ b).dtype == torch.bfloat16
    with fp32.autocast():
        assert (a @ b).dtype == torch.float32


def test_backward_and_step_updates_and_clips():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    prec = Precision.create("fp32", torch.device("cpu"))
    before = model.weight.detach().clone()
    loss = (model(torch.randn(16, 4)) * 1e3).pow(2).mean()
    prec.backward_and_step(loss, opt, clip_grad_norm=1e-3)
    step = (model.weight.detach() - before).norm()
    assert 0 < step <= 1e-3 + 1e-9  # lr 1 and a clipped gradient norm bound the step
    assert model.weight.grad is None  # gradients zeroed


@pytest.mark.gpu
def test_fp16_uses_a_grad_scaler_on_cuda():
    prec = Precision.create("fp16", resolve_device("cuda"))
    assert prec.scaler is not None


def test_seed_everything_reproduces_and_deterministic_flag():
    seed_everything(123)
    a = torch.randn(5)
    seed_everything(123)
    assert torch.equal(a, torch.randn(5))
    try:
        seed_everything(1, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
