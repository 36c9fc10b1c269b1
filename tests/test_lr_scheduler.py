"""optim.lr_scheduler: each schedule's learning rates, epoch by epoch, as PyTorch documents
them (closed forms, torch-free) and as torch.optim.lr_scheduler gives them."""

import math

import pytest

import minigrad as mg
from minigrad.optim import lr_scheduler as sched


def _opt(lr=1.0, groups=1):
    params = [{"params": [mg.zeros(2, requires_grad=True)], "lr": lr * (k + 1)}
              for k in range(groups)]
    return mg.optim.SGD(params, lr=lr)


def _run(make, epochs=8, groups=1, metrics=None):
    opt = _opt(groups=groups)
    s = make(opt)
    lrs = [s.get_last_lr()]
    for epoch in range(len(metrics) if metrics else epochs):
        opt.step()
        s.step(metrics[epoch]) if metrics else s.step()
        lrs.append(s.get_last_lr())
    return lrs


def test_step_lr():
    lrs = _run(lambda o: sched.StepLR(o, step_size=3, gamma=0.5))
    assert [x[0] for x in lrs] == pytest.approx([0.5 ** (e // 3) for e in range(9)])


def test_multi_step_lr_and_exponential_lr():
    lrs = _run(lambda o: sched.MultiStepLR(o, milestones=[5, 2], gamma=0.1))
    assert [x[0] for x in lrs] == pytest.approx([1, 1, .1, .1, .1, .01, .01, .01, .01])
    lrs = _run(lambda o: sched.ExponentialLR(o, gamma=0.9), groups=2)
    assert [x[1] for x in lrs] == pytest.approx([2 * 0.9 ** e for e in range(9)])


def test_lambda_lr_per_group():
    lrs = _run(lambda o: sched.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.5]), groups=2)
    assert [x[0] for x in lrs] == pytest.approx([1 / (e + 1) for e in range(9)])
    assert all(x[1] == 1.0 for x in lrs)


def test_cosine_annealing_lr():
    lrs = _run(lambda o: sched.CosineAnnealingLR(o, T_max=4, eta_min=0.1))
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(9)]
    assert [x[0] for x in lrs] == pytest.approx(expected)


def test_reduce_lr_on_plateau():
    metrics = [5, 4, 4, 4, 4, 4, 4, 4]
    lrs = _run(lambda o: sched.ReduceLROnPlateau(o, factor=0.5, patience=1, cooldown=1),
               metrics=metrics)
    # bad epochs after epoch 2: 1, 2 -> reduce at the 4th step, cooldown 1, then 2 more bad
    assert [x[0] for x in lrs] == [1, 1, 1, 1, .5, .5, .5, .25, .25]
    lrs = _run(lambda o: sched.ReduceLROnPlateau(o, mode="max", factor=0.1, patience=0,
                                                 min_lr=0.05), metrics=[1, 2, 2, 2, 3])
    assert [x[0] for x in lrs][:6] == pytest.approx([1, 1, 1, .1, .05, .05])


def test_schedulers_write_param_groups_and_round_trip_their_state():
    opt = _opt()
    s = sched.StepLR(opt, step_size=2, gamma=0.1)
    assert opt.param_groups[0]["initial_lr"] == 1.0
    for _ in range(3):
        s.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    state = s.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    other = sched.StepLR(_opt(), step_size=5)
    other.load_state_dict(state)
    assert other.last_epoch == 3 and other.step_size == 2
    resumed = sched.StepLR(opt, step_size=2, gamma=0.1, last_epoch=3)
    assert resumed.last_epoch == 4


def test_schedulers_check_their_arguments():
    with pytest.raises(TypeError, match="expected an optimizer with param_groups"):
        sched.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size expected a positive int"):
        sched.StepLR(_opt(), step_size=0)
    with pytest.raises(KeyError, match="initial_lr"):
        sched.ExponentialLR(_opt(), gamma=0.5, last_epoch=3)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        sched.LambdaLR(_opt(groups=2), [lambda e: 1.0])
    with pytest.raises(ValueError, match="factor expected < 1.0"):
        sched.ReduceLROnPlateau(_opt(), factor=1.0)
    with pytest.raises(ValueError, match="mode expected 'min' or 'max'"):
        sched.ReduceLROnPlateau(_opt(), mode="up")
    with pytest.raises(ValueError, match="epoch argument is deprecated"):
        sched.StepLR(_opt(), step_size=1).step(3)


@pytest.mark.parametrize("name, kwargs", [
    ("StepLR", dict(step_size=2, gamma=0.3)), ("MultiStepLR", dict(milestones=[1, 4, 4])),
    ("ExponentialLR", dict(gamma=0.7)), ("CosineAnnealingLR", dict(T_max=3, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e))])
def test_the_same_rates_as_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    w = torch.zeros(2, requires_grad=True)
    t_opt = torch.optim.SGD([{"params": [w], "lr": 0.5}, {"params": [torch.zeros(1)],
                                                          "lr": 0.2}], lr=0.5)
    theirs = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    m_opt = mg.optim.SGD([{"params": [mg.zeros(2, requires_grad=True)], "lr": 0.5},
                          {"params": [mg.zeros(1, requires_grad=True)], "lr": 0.2}], lr=0.5)
    ours = getattr(sched, name)(m_opt, **kwargs)
    for _ in range(10):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        t_opt.step()
        m_opt.step()
        theirs.step()
        ours.step()


def test_plateau_like_pytorch():
    torch = pytest.importorskip("torch")
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    m_opt = mg.optim.SGD([mg.zeros(1, requires_grad=True)], lr=1.0)
    options = dict(factor=0.5, patience=2, threshold=0.1, threshold_mode="abs", cooldown=1,
                   min_lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **options)
    ours = sched.ReduceLROnPlateau(m_opt, **options)
    for metric in [3.0, 2.95, 2.9, 2.85, 2.5, 2.5, 2.45, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5]:
        theirs.step(metric)
        ours.step(metric)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr())
