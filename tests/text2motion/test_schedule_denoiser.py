"""Noise schedule, DDIM, and the denoiser's masking and conditioning contracts."""
from __future__ import annotations

import torch

from backend.models.diffusion.denoiser import DenoiserConfig, MotionDenoiser
from backend.models.diffusion.schedule import CosineSchedule


def test_cosine_schedule_is_monotone_and_bounded():
    s = CosineSchedule(100)
    a = s.alphas_cumprod
    assert a.shape == (100,) and torch.all(a[1:] < a[:-1])
    assert 0.99 < a[0] <= 1.0 and 0.0 < a[-1] < 0.01


def test_timesteps_are_distinct_from_noisiest_to_clean():
    s = CosineSchedule(100)
    for n in (1, 2, 5, 10, 20, 100, 500):
        ts = s.timesteps(n)
        assert ts[0] == 99 and len(ts) == min(n, 100) and len(set(ts)) == len(ts)
        assert ts == sorted(ts, reverse=True)
        if n > 1:
            assert ts[-1] == 0


def test_ddim_with_a_perfect_x0_recovers_it():
    s = CosineSchedule(100)
    x0 = torch.randn(2, 30, 8)
    x = s.q_sample(x0, torch.tensor([99, 99]), torch.randn_like(x0))
    ts = s.timesteps(10)
    for i, t in enumerate(ts):
        x = s.ddim_step(x, x0, t, ts[i + 1] if i + 1 < len(ts) else None)
    assert torch.allclose(x, x0)


def _net():
    torch.manual_seed(0)
    net = MotionDenoiser(DenoiserConfig(feature_dim=12, d_model=32, layers=2, heads=2, ff=64, patch=2,
                                        max_frames=64, dropout=0.0)).eval()
    for p in net.parameters():  # adaLN-zero starts as identity: perturb so every path matters
        p.data.add_(0.05 * torch.randn_like(p))
    return net


def test_padded_frames_do_not_change_real_frames():
    net = _net()
    x, obs, mask = torch.randn(1, 20, 12), torch.zeros(1, 20, 12), torch.zeros(1, 20, 12)
    real = torch.zeros(1, 20, dtype=torch.bool)
    real[:, :12] = True
    t, txt = torch.tensor([5]), torch.randn(1, 384)
    a = net(x, t, txt, obs, mask, real)
    x2 = x.clone()
    x2[:, 12:] = 100.0
    b = net(x2, t, txt, obs, mask, real)
    assert torch.allclose(a[:, :12], b[:, :12], atol=1e-5)
    assert torch.isfinite(b).all()
    # without the mask the same change does reach the real frames (the test can fail)
    assert not torch.allclose(net(x, t, txt, obs, mask)[:, :12], net(x2, t, txt, obs, mask)[:, :12], atol=1e-5)


def test_dropped_text_ignores_the_text_and_kept_text_uses_it():
    net = _net()
    x, z = torch.randn(1, 16, 12), torch.zeros(1, 16, 12)
    t = torch.tensor([50])
    drop = torch.tensor([False])
    a = net(x, t, torch.randn(1, 384), z, z, text_keep=drop)
    b = net(x, t, torch.randn(1, 384), z, z, text_keep=drop)
    assert torch.allclose(a, b)
    c = net(x, t, torch.randn(1, 384), z, z, text_keep=~drop)
    assert not torch.allclose(a, c)


def test_window_longer_than_the_model_is_refused():
    net = _net()
    x = torch.zeros(1, 65, 12)
    try:
        net(x, torch.tensor([0]), torch.zeros(1, 384), x, x)
    except ValueError as e:
        assert "at most 64 frames" in str(e)
    else:
        raise AssertionError("expected a ValueError")


def _cfg(**kw):
    base = {"feature_dim": 12, "d_model": 8, "layers": 1, "heads": 2, "ff": 16, "patch": 4, "max_frames": 64,
            "dropout": 0.0}
    return DenoiserConfig(**{**base, **kw})


def test_frame_head_starts_at_zero_so_weights_without_it_load_unchanged():
    torch.manual_seed(0)
    base = MotionDenoiser(_cfg()).eval()
    for p in base.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    head = MotionDenoiser(_cfg(frame_head=16)).eval()
    missing, unexpected = head.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("frame.") for k in missing)
    x, z, t, txt = torch.randn(2, 20, 12), torch.zeros(2, 20, 12), torch.tensor([3, 40]), torch.randn(2, 384)
    assert torch.allclose(base(x, t, txt, z, z), head(x, t, txt, z, z), atol=1e-6)
    head.frame.out.weight.data.normal_()
    assert not torch.allclose(base(x, t, txt, z, z), head(x, t, txt, z, z), atol=1e-3)  # the head is wired in
    assert DenoiserConfig.from_dict({"d_model": 8}).frame_head == 0  # sidecars from before the head


def test_frame_head_hands_back_per_frame_detail_the_patched_transformer_cannot():
    """At the lowest noise level the clean motion is the input: a transformer whose token squeezes 4 frames x 36
    numbers into 8 cannot return it, the frame head can (the reason it exists)."""
    def fit(cfg):
        torch.manual_seed(0)
        net = MotionDenoiser(cfg)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(1)
        z = torch.zeros(8, 32, 12)
        for _ in range(300):
            x = torch.randn(8, 32, 12, generator=g)
            loss = ((net(x, torch.zeros(8, dtype=torch.long), torch.zeros(8, 384), z, z) - x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        x = torch.randn(8, 32, 12, generator=g)
        with torch.no_grad():
            return float(((net(x, torch.zeros(8, dtype=torch.long), torch.zeros(8, 384), z, z) - x) ** 2).mean())
    plain, headed = fit(_cfg()), fit(_cfg(frame_head=32))
    assert plain > 0.5 and headed < 0.2 * plain, (plain, headed)


def test_expert_denoisers_route_each_row_by_its_noise_level():
    from backend.models.diffusion.denoiser import ExpertDenoisers
    base = _net()
    low = _net()
    for p in low.parameters():  # a different network: every routing mistake shows
        p.data.add_(0.05 * torch.randn_like(p))
    both = ExpertDenoisers(base, low, max_t=30)
    x, obs, mask, txt = torch.randn(3, 16, 12), torch.zeros(3, 16, 12), torch.zeros(3, 16, 12), torch.randn(3, 384)
    for t in (torch.tensor([0, 15, 30]), torch.tensor([31, 60, 99]), torch.tensor([30, 31, 5])):
        out = both(x, t, txt, obs, mask)
        for i in range(3):
            want = (low if t[i] <= 30 else base)(x[i:i + 1], t[i:i + 1], txt[i:i + 1], obs[i:i + 1], mask[i:i + 1])
            other = (base if t[i] <= 30 else low)(x[i:i + 1], t[i:i + 1], txt[i:i + 1], obs[i:i + 1], mask[i:i + 1])
            assert torch.allclose(out[i:i + 1], want, atol=1e-5)
            assert not torch.allclose(out[i:i + 1], other, atol=1e-3)
    bigger = MotionDenoiser(DenoiserConfig(feature_dim=12, d_model=48, layers=2, heads=2, ff=64, patch=2,
                                           max_frames=64, dropout=0.0))
    import pytest
    with pytest.raises(ValueError, match="config"):
        ExpertDenoisers(base, bigger, max_t=30)


def test_a_sidecar_naming_a_low_noise_expert_loads_both_and_refuses_a_foreign_normaliser(tmp_path):
    import pytest

    from backend.models.diffusion.denoiser import ExpertDenoisers
    from backend.models.diffusion.model import Text2MotionModel
    from backend.models.weights import save_weights

    def write(name, net, std, sampling=None):
        tensors = {f"denoiser.{k}": v for k, v in net.state_dict().items()}
        tensors.update({"normalizer.mean": torch.zeros(12), "normalizer.std": torch.full((12,), std)})
        save_weights(tmp_path / name, tensors, {"config": net.cfg.to_dict(), "sampling": sampling or {}})

    base, low = _net(), _net()
    for p in low.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    write("low.safetensors", low, 1.0)
    write("base.safetensors", base, 1.0, {"low_noise_expert": {"weights": "low.safetensors", "max_t": 30}})
    write("plain.safetensors", base, 1.0)
    m = Text2MotionModel.load(tmp_path / "base.safetensors")
    assert isinstance(m.denoiser, ExpertDenoisers) and m.denoiser.max_t == 30
    x, obs, txt = torch.randn(1, 16, 12), torch.zeros(1, 16, 12), torch.randn(1, 384)
    assert torch.allclose(m.denoiser(x, torch.tensor([10]), txt, obs, obs), low(x, torch.tensor([10]), txt, obs, obs))
    assert torch.allclose(m.denoiser(x, torch.tensor([90]), txt, obs, obs), base(x, torch.tensor([90]), txt, obs, obs))
    assert isinstance(Text2MotionModel.load(tmp_path / "plain.safetensors").denoiser, MotionDenoiser)
    write("low.safetensors", low, 2.0)  # trained on other statistics: refused, not silently mixed
    with pytest.raises(ValueError, match="normaliser"):
        Text2MotionModel.load(tmp_path / "base.safetensors")
