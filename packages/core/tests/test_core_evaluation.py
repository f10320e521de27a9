import math

import pytest
import torch

from dltheory.core.device import Precision
from dltheory.core.evaluation import evaluate_tensors

pytestmark = pytest.mark.usefixtures("float64_default")


def _data(n=23, d=5, k=4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


def test_mean_cross_entropy_and_accuracy_match_a_hand_computation_for_any_batch_size():
    x, y = _data()
    model = torch.nn.Linear(5, 4)
    with torch.no_grad():
        logits = x @ model.weight.T + model.bias
        # cross-entropy by hand: log-sum-exp minus the true logit, averaged over all 23 examples
        expected_loss = float((logits.logsumexp(1) - logits[torch.arange(23), y]).mean())
        expected_acc = float((logits.argmax(1) == y).double().mean())
    for batch in (1, 5, 23, 1000):
        loss, acc = evaluate_tensors(model, x, y, batch_size=batch)
        assert loss == pytest.approx(expected_loss, rel=1e-6)  # the loss is taken in float32
        assert acc == pytest.approx(expected_acc, abs=1e-15)


def test_mode_is_restored_and_dropout_is_off_while_evaluating():
    x, y = _data()
    model = torch.nn.Sequential(torch.nn.Dropout(0.9), torch.nn.Linear(5, 4))
    first = evaluate_tensors(model, x, y, batch_size=7)
    assert first == evaluate_tensors(model, x, y, batch_size=7)  # no dropout noise: eval mode
    assert model.training
    model.eval()
    evaluate_tensors(model, x, y)
    assert not model.training


def test_regression_loss_with_device_and_precision_and_nan_accuracy():
    x, _ = _data()
    target = torch.randn(23, 2, generator=torch.Generator().manual_seed(1))
    model = torch.nn.Linear(5, 2)

    def half_sse(o, t):
        return 0.5 * (o - t).square().sum(1).mean()

    loss, acc = evaluate_tensors(
        model,
        x,
        target,
        batch_size=4,
        loss_fn=half_sse,
        precision=Precision.create("fp32", torch.device("cpu")),
        device="cpu",
        classification=False,
    )
    with torch.no_grad():
        expected = float(0.5 * (model(x) - target).square().sum(1).mean())
    assert loss == pytest.approx(expected, rel=1e-6)  # float32 loss
    assert math.isnan(acc)
