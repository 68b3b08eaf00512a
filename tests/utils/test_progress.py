"""Tests for sdn_tf.utils.progress: durations, rates and progress lines."""

import pytest

from sdn_tf.utils import progress


@pytest.mark.parametrize(
  "seconds,text",
  [
    (0, "0s"),
    (0.9, "0s"),
    (42, "42s"),
    (59.99, "59s"),
    (60, "1m00s"),
    (185, "3m05s"),
    (3599, "59m59s"),
    (3600, "1h00m"),
    (3725, "1h02m"),
    (36000 + 59 * 60 + 59, "10h59m"),
    (-5, "0s"),
  ],
)
def test_format_duration(seconds, text):
  assert progress.format_duration(seconds) == text


class _Clock:
  def __init__(self, now=100.0):
    self.now = now

  def __call__(self):
    return self.now


@pytest.fixture
def clock(monkeypatch):
  fake = _Clock()
  monkeypatch.setattr(progress.time, "monotonic", fake)
  return fake


def test_rate_meter_by_hand(clock):
  meter = progress.RateMeter()
  assert meter.steps_per_sec == 0.0
  assert meter.eta(0, 100) is None
  clock.now += 4.0
  assert meter.tick(20) == pytest.approx(5.0)
  assert meter.eta(20, 100) == pytest.approx(16.0)
  # The rate is over the window since the last tick only.
  clock.now += 10.0
  assert meter.tick(30) == pytest.approx(1.0)
  assert meter.eta(30, 100) == pytest.approx(70.0)


def test_rate_meter_keeps_the_last_rate_without_progress(clock):
  meter = progress.RateMeter(step=10)
  clock.now += 2.0
  assert meter.tick(16) == pytest.approx(3.0)
  clock.now += 5.0
  assert meter.tick(16) == pytest.approx(3.0)  # no new steps
  assert meter.tick(20) == pytest.approx(3.0)  # no time passed
  clock.now += 1.0
  assert meter.tick(22) == pytest.approx(2.0)


def test_rate_meter_real_clock():
  meter = progress.RateMeter()
  rate = meter.tick(5)
  assert rate >= 0.0


def test_progress_line_by_hand():
  line = progress.progress_line(
    "stage1",
    120,
    1000,
    {"loss": 3.21, "stage1/input": 0.000123456},
    rate=1.5,
    items_per_step=32,
    eta=192.0,
  )
  assert line == (
    "stage1 120/1000 loss=3.21 stage1/input=0.0001235 | 48.0 img/s | ETA 3m12s"
  )


def test_progress_line_unknown_eta_and_unit():
  line = progress.progress_line(
    "sampling", 3, 10, {}, rate=0.0, items_per_step=8, eta=None, unit="caption"
  )
  assert line == "sampling 3/10  | 0.0 caption/s | ETA ?"
