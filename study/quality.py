"""Quality control of a sample's channels at import: saturated, blank, out of focus, misregistered.

Real data sets hold channels that are blank, saturated, out of focus or not registered with the
others (the paper lost 1,244 of 20,000 samples to corrupt channels). ``assess_sample`` measures
every channel of a ``(4, H, W)`` uint8 or uint16 sample (red microtubules, green protein, blue
nucleus, yellow endoplasmic reticulum) and compares the measures with ``QualityThresholds``; a
channel past a threshold gets a ``QualityFlag``. Nothing is skipped or changed: the flags are for
people to look at and for analyses to leave out. Where a check has too little to judge (a crop of
part of a cell, an empty field, a speck of stain) it *abstains*: its measure is None and an
``Abstention`` says why; it never flags then. numpy and scipy only. Its cost hardly grows with the
image (benchmarks/bench_quality.py): besides a maximum and a few sampled rows of each channel, it
reads a reduced image and a few tiles.

The *coarse* image of a channel has a pixel for each block of f x f pixels, f = ceil(longer side /
256): the block's mean over all its rows, or for f of 4 or more over two rows spread over it (and
all its columns), smoothed by a Gaussian of 2 coarse pixels.

``saturated`` (flag ``saturated`` over 0.01, i.e. 1% of the pixels; always judged)
    The fraction of the channel's pixels at its saturation level. The level is the container's
    maximum (255 for 8-bit, 65535 for 16-bit) or, in 16-bit data whose brightest pixel sits
    exactly at the top of a 10-, 12- or 14-bit sensor (1023, 4095 or 16383, or the same shifted to
    the top of the container: 65472, 65520, 65532), that value; it is reported as
    ``saturation_level``. A channel whose maximum is anything else has no pixel at a sensor limit
    and measures 0. Pixels at the limit have lost their true brightness: a few (specks, the
    brightest nucleoli) are normal, 1% is an overexposed channel. CellProfiler's
    MeasureImageQuality reports the same fraction ("PercentMaximal").

``dynamic_range`` (flag ``blank`` under 10) and ``levels`` (flag ``blank`` under 4)
    ``dynamic_range`` is the spread of the channel's content in multiples of its noise: the 0.1th
    to 99.9th percentile of the coarse image, smoothed to at least 8 pixels of the sample (so that
    a faint stain spread over a cell stands out of the noise in a crop as in a whole field) and
    without its border (where the smoothing averages fewer pixels), over the standard deviation
    that the channel's noise keeps in it. The noise (``noise``, grey levels) is estimated on rows
    spread over the full image with Immerkaer's operator (J. Immerkaer, "Fast noise variance
    estimation", Computer Vision and Image Understanding 64(2), 1996), robustly: the median
    absolute response of the kernel [[1,-2,1],[-2,4,-2],[1,-2,1]] over 0.6745 x 6, and at least
    the rounding noise of whole grey levels, 1/sqrt(12). This is dynamic range in the camera
    engineer's sense (signal range over the noise floor, as in EMVA 1288), measured on the image.
    Nothing but noise spans 3 to 7.5 noise widths (less in small crops), a constant channel 0; the
    real HPA field's channels span over 10,000. ``levels`` is the number of grey levels from the
    0.1th to the 99.9th percentile of the full image: a channel whose pixels take only one to three
    values is blank even if those few values draw cells.

    A channel is judged blank only where another channel shows a whole cell or nucleus: whole
    nuclei in the nuclear stain, or in the microtubule or ER stain a cell mask region or a
    nucleus' hole that the border does not cut, standing out of the rest of the field (by half its
    height). A crop inside one nucleus, or of cytoplasm only, or an empty field, cannot tell a
    failed stain from a stain with nothing to show there: the check abstains. A blank protein
    (green) channel can be a true negative staining; a blank reference channel is a failed one.

``focus`` (flag ``out_of_focus`` under 0.35)
    The energy of the Laplacian over the energy of the gradient, mean((Lx)^2) / mean(|grad x|^2),
    with the 5-point Laplacian L and forward differences, at full resolution on the four tiles of
    about 128 x 128 pixels that hold the most of the channel's stain (the whole image when it is
    no larger than 2 x 2 tiles). It belongs to the family of derivative-based focus measures (the
    variance of the Laplacian, Pech-Pacheco et al., ICPR 2000; Tenengrad, Krotkov 1987; the survey
    of Pertuz, Puig and Garcia, Pattern Recognition 46, 2013), but divides one by the other, so
    that it depends neither on brightness nor on contrast. By Parseval's theorem it is the mean
    squared spatial frequency (2 - 2 cos w summed over both axes) weighted by the image's gradient
    energy: blur removes the fine detail and lowers it. Sharp synthetic channels measure 0.66 and
    up (median 1.6), the real HPA field 1.0 to 2.5; a Gaussian blur of 2 pixels brings most
    synthetic channels to about 0.2. White noise measures 5, the maximum is 8, so noise looks
    sharp: defocus under heavy noise is missed, as is a blur of a dim 8-bit channel, whose rounding
    to whole grey levels after the blur leaves fine detail. Resolution matters: a field recorded
    at 3072 pixels with optics that resolve no more than at 2048 measures lower; lower the limit
    for such data. A channel with under about 1,000 stained pixels abstains.

``shift`` (flag ``misregistered`` over 3 pixels)
    The offset of the channel against the others, in pixels of the image (``shift_dy`` and
    ``shift_dx``, positive when the channel's content lies lower or further right than the
    others'; ``shift`` their length): see ``study.registration``. It is judged on fields holding at
    least three whole nuclei; on others it abstains, as it does for a channel whose edges fit the
    others' at no displacement near while its cell mask tells nothing far. A blank channel takes
    no part.

A flag carries the measure's name, its value and the threshold it passed. A blank channel is not
also flagged out of focus or misregistered: it has nothing to focus on or to register.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
from scipy import ndimage

from study.registration import (
    COARSE_SMOOTHING,
    ROLES,
    CoarseChannel,
    block_mean,
    cell_mask,
    clear_border,
    fill_holes,
    nuclear_mask,
    otsu_threshold,
    register_channels,
    stands_out,
    whole_nuclei,
)

CHANNELS = ("red", "green", "blue", "yellow")  # as study.store.CHANNELS (a test holds them equal), without Django
CHECKS = ("saturated", "blank", "out_of_focus", "misregistered")

FOCUS_TILE = 128  # side of a focus tile, pixels
FOCUS_TILES = 4
FOCUS_MIN_STAIN = 1024  # stained pixels (at the focus resolution) that the focus check needs
COARSE_SIDE = 256  # the coarse image's longer side is at most this
RANGE_SMOOTHING = 8.0  # Gaussian sigma of the image whose dynamic range is taken, at least; pixels
PERCENTILES = (0.1, 99.9)
NOISE_RESPONSES = 1 << 15  # the noise is estimated on about this many pixels of the full image
LEVEL_SAMPLE = 1 << 16  # the grey levels are counted on about this many pixels of the full image
COARSE_ROWS = 2  # rows of each block that the coarse image averages, for blocks of 4 rows or more
# The top of 10-, 12- and 14-bit sensors in 16-bit containers, stored as-is or shifted to the top.
SENSOR_LIMITS_16 = frozenset(
    {65535} | {level for bits in (10, 12, 14) for level in ((1 << bits) - 1, ((1 << bits) - 1) << (16 - bits))}
)
QUANTISATION_NOISE = 1 / math.sqrt(12)  # standard deviation of rounding to whole grey levels
MAD_TO_SIGMA = 0.6745  # the median absolute value of a standard normal variable


@dataclass(frozen=True)
class QualityThresholds:
    """The limits past which a channel is flagged; see the module's documentation for each."""

    saturated: float = 0.01  # largest fraction of pixels at the saturation level
    min_range: float = 10.0  # least dynamic range, in noise widths
    min_levels: float = 4  # least number of grey levels from the 0.1th to the 99.9th percentile
    min_focus: float = 0.35  # least Laplacian-to-gradient energy ratio
    max_shift_px: float = 3.0  # largest offset against the other channels, pixels

    def __post_init__(self):
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"quality threshold {item.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"quality threshold {item.name} must not be negative, got {value!r}")
        if self.saturated > 1:
            raise ValueError(
                f"quality threshold saturated is a fraction of the pixels, at most 1, got {self.saturated!r}"
            )


@dataclass(frozen=True)
class QualityFlag:
    channel: str
    check: str  # one of CHECKS
    value: float  # the measure
    threshold: float  # the limit it passed
    measure: str  # the measure's name in ChannelQuality

    def __str__(self) -> str:
        side = "over" if self.check in ("saturated", "misregistered") else "under"
        return (
            f"{self.channel} {self.check.replace('_', ' ')}: {self.measure} {self.value:.4g} "
            f"{side} {self.threshold:.4g}"
        )


@dataclass(frozen=True)
class Abstention:
    """A check that had too little to judge a channel by."""

    channel: str
    check: str  # one of CHECKS
    reason: str


@dataclass(frozen=True)
class ChannelQuality:
    """One channel's measures (see the module's documentation); None where a measure does not
    apply or its check abstained."""

    channel: str
    saturated: float
    saturation_level: int
    levels: int
    dynamic_range: float
    noise: float  # standard deviation of the noise in the full image, grey levels
    focus: float | None
    shift_dy: float | None  # pixels
    shift_dx: float | None
    shift: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {item.name: getattr(self, item.name) for item in fields(self) if item.name != "channel"}


@dataclass(frozen=True)
class SampleQuality:
    channels: tuple[ChannelQuality, ...]
    flags: tuple[QualityFlag, ...]
    abstentions: tuple[Abstention, ...] = ()
    thresholds: QualityThresholds = field(default_factory=QualityThresholds)

    @property
    def measures(self) -> dict[str, dict[str, float | int | None]]:
        """Channel name -> measure name -> value: plain JSON (None where a measure does not apply)."""
        return {quality.channel: quality.as_dict() for quality in self.channels}

    @property
    def ok(self) -> bool:
        return not self.flags

    def flagged(self, channel: str) -> set[str]:
        """The checks that ``channel`` failed."""
        return {flag.check for flag in self.flags if flag.channel == channel}

    def abstained(self, channel: str) -> dict[str, str]:
        """The checks that had too little to judge ``channel`` by, with their reasons."""
        return {item.check: item.reason for item in self.abstentions if item.channel == channel}

    def as_dict(self) -> dict:
        """Measures, flags and abstentions as plain JSON, for a database field or a report."""
        return {
            "measures": self.measures,
            "flags": [
                {"channel": f.channel, "check": f.check, "measure": f.measure, "value": f.value,
                 "threshold": f.threshold}
                for f in self.flags
            ],
            "abstained": [{"channel": a.channel, "check": a.check, "reason": a.reason} for a in self.abstentions],
        }


@dataclass(frozen=True)
class _Intensity:
    """What one pass over a channel tells: the measures of its grey values and its coarse image."""

    saturated: float
    level: int
    levels: int
    noise: float
    coarse: np.ndarray
    floor: float
    dynamic_range: float


def assess_sample(
    pixels: np.ndarray, thresholds: QualityThresholds | None = None, channels: tuple[str, ...] = CHANNELS
) -> SampleQuality:
    """Measure every channel of a ``(C, H, W)`` uint8 or uint16 sample, channels named by
    ``channels``, and flag those past ``thresholds``. ``pixels`` may be a memory map; it is only read."""
    thresholds = QualityThresholds() if thresholds is None else thresholds
    pixels = np.asanyarray(pixels)
    if pixels.ndim != 3 or pixels.shape[0] != len(channels):
        raise ValueError(f"expected an array of shape ({len(channels)}, H, W), got {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected uint8 or uint16 pixels, got {pixels.dtype}")
    _, height, width = pixels.shape
    if min(height, width) < 16:
        raise ValueError(f"a sample must be at least 16 pixels a side to be assessed, got {height}x{width}")
    side = max(height, width)
    coarse_factor = max(1, math.ceil(side / COARSE_SIDE))
    roles = [ROLES.get(name, "protein") for name in channels]

    intensities = [measure_intensity(plane, coarse_factor) for plane in pixels]
    content = [
        item.dynamic_range >= thresholds.min_range and item.levels >= thresholds.min_levels for item in intensities
    ]
    blank_reasons = blank_abstentions(intensities, content, roles, coarse_factor)
    coarse = [
        CoarseChannel(item.coarse if has else None, item.noise, item.floor)
        for item, has in zip(intensities, content)
    ]
    offsets = register_channels(pixels, coarse, coarse_factor, roles)

    qualities, flags, abstentions = [], [], []
    for index, (name, item, has, offset) in enumerate(zip(channels, intensities, content, offsets)):
        focus = focus_reason = None
        if has:
            focus, focus_reason = tiled_focus(pixels[index], item.coarse, coarse_factor)
        qualities.append(
            ChannelQuality(
                name, item.saturated, item.level, item.levels, item.dynamic_range, item.noise, focus,
                offset.dy, offset.dx, offset.length,
            )
        )
        if item.saturated > thresholds.saturated:
            flags.append(QualityFlag(name, "saturated", item.saturated, thresholds.saturated, "saturated"))
        if not has:
            if blank_reasons[index]:
                abstentions.append(Abstention(name, "blank", blank_reasons[index]))
            elif item.dynamic_range < thresholds.min_range:
                flags.append(QualityFlag(name, "blank", item.dynamic_range, thresholds.min_range, "dynamic_range"))
            else:
                flags.append(QualityFlag(name, "blank", float(item.levels), float(thresholds.min_levels), "levels"))
            continue
        if focus_reason is not None:
            abstentions.append(Abstention(name, "out_of_focus", focus_reason))
        elif focus is not None and focus < thresholds.min_focus:
            flags.append(QualityFlag(name, "out_of_focus", focus, thresholds.min_focus, "focus"))
        if offset.reason is not None:
            abstentions.append(Abstention(name, "misregistered", offset.reason))
        elif offset.length > thresholds.max_shift_px:
            flags.append(QualityFlag(name, "misregistered", offset.length, thresholds.max_shift_px, "shift"))
    return SampleQuality(tuple(qualities), tuple(flags), tuple(abstentions), thresholds)


def measure_intensity(plane: np.ndarray, coarse_factor: int) -> _Intensity:
    """Saturation, grey levels, noise and the coarse image of one channel, with its dynamic range."""
    plane = np.asarray(plane)
    saturated, level = saturation(plane)
    noise = noise_sigma(plane)
    coarse = ndimage.gaussian_filter(coarse_image(plane, coarse_factor), COARSE_SMOOTHING, mode="nearest")
    # The range is taken at one scale of the sample whatever its size: a faint stain spread over a
    # cell stands out of the noise by its area, in a crop as in a whole field.
    sigma = max(COARSE_SMOOTHING, RANGE_SMOOTHING / coarse_factor)
    ranged = coarse
    if sigma > COARSE_SMOOTHING:
        ranged = ndimage.gaussian_filter(coarse, math.sqrt(sigma**2 - COARSE_SMOOTHING**2), mode="nearest")
    # Near the border the smoothing averages fewer pixels and leaves more noise: the inside only.
    margin = math.ceil(2 * sigma)
    if min(ranged.shape) > 2 * margin + 8:
        ranged = ranged[margin:-margin, margin:-margin]
    # Every other pixel of a smooth image: the percentiles hardly change, for a quarter of the work.
    low, high = np.percentile(ranged[::2, ::2], PERCENTILES)
    dynamic = float(high - low) / (noise * _white_noise_gain(coarse_rows(coarse_factor), coarse_factor, sigma))
    return _Intensity(saturated, level, grey_levels(plane), noise, coarse, float(low), dynamic)


def blank_abstentions(
    intensities: list[_Intensity], content: list[bool], roles: list[str], coarse_factor: int
) -> list[str | None]:
    """For each channel without content, why its blank check cannot judge it (None: it can). A stain
    is missed only where it should be, and the other channels must show that place: whole nuclei
    (for the stains of the cytoplasm and the protein) or a whole cell or a nucleus' hole in a
    cytoplasmic stain (for all). A part of a cell, or an empty field, shows neither."""
    if all(content):
        return [None] * len(content)
    whole = [False] * len(content)
    for channel, has in enumerate(content):
        if has and roles[channel] == "nucleus":
            mask = nuclear_mask(intensities[channel].coarse)
            whole[channel] = mask is not None and bool(whole_nuclei(mask, coarse_factor))
        elif has and roles[channel] in ("microtubules", "er"):
            whole[channel] = _shows_whole_cells(intensities[channel])
    reasons: list[str | None] = []
    for channel, has in enumerate(content):
        if has or any(whole[i] for i in range(len(content)) if i != channel):
            reasons.append(None)
        elif not any(content):
            reasons.append("no channel shows anything: an empty field, or every stain failed")
        else:
            reasons.append("too small to judge: the other channels show no whole cell or nucleus")
    return reasons


def _shows_whole_cells(item: _Intensity) -> bool:
    """Whether a cytoplasmic stain's cell mask holds a whole cell (a region that the border does not
    cut) or a nucleus' place (a hole that it does not cut)."""
    mask = cell_mask(item.coarse, item.noise)
    if mask is None or not stands_out(item.coarse, mask):
        return False
    return bool(clear_border(mask).any() or (fill_holes(mask) & ~mask).any())


def saturation(plane: np.ndarray) -> tuple[float, int]:
    """The fraction of pixels at the saturation level, and that level (see the module's notes)."""
    top = int(plane.max())
    if plane.dtype == np.uint8:
        level = 255
    else:
        level = top if top in SENSOR_LIMITS_16 else 65535
    count = int(np.count_nonzero(plane == level)) if top == level else 0
    return count / plane.size, level


def grey_levels(plane: np.ndarray) -> int:
    """Grey levels from the 0.1th to the 99.9th percentile, both counted, on an even grid of pixels."""
    step = max(1, math.ceil(math.sqrt(plane.size / LEVEL_SAMPLE)))
    low, high = np.percentile(plane[::step, ::step], PERCENTILES)
    return int(round(high - low)) + 1


def noise_sigma(plane: np.ndarray) -> float:
    """Standard deviation of the full image's noise, grey levels: Immerkaer's operator, by the median
    of its absolute response on evenly spaced rows, at least the rounding noise of whole levels."""
    height, width = plane.shape
    wanted = max(1, min(height - 2, math.ceil(NOISE_RESPONSES / max(width - 2, 1))))
    centres = np.linspace(1, height - 2, wanted).round().astype(np.intp)
    rows = np.asarray(plane[np.concatenate([centres - 1, centres, centres + 1])], dtype=np.float32)
    above, middle, below = np.split(rows, 3)
    vertical = above - 2 * middle + below  # the kernel is [1,-2,1] down times [1,-2,1] across
    response = vertical[:, :-2] - 2 * vertical[:, 1:-1] + vertical[:, 2:]
    sigma = float(np.median(np.abs(response))) / (MAD_TO_SIGMA * 6.0)
    return max(sigma, QUANTISATION_NOISE)


def tiled_focus(plane: np.ndarray, coarse: np.ndarray, coarse_factor: int) -> tuple[float | None, str | None]:
    """The focus measure on the channel's most stained tiles (see the module's notes), or None and
    why it cannot be judged."""
    height, width = plane.shape
    stain = coarse > otsu_threshold(coarse)
    share = float(stain.mean()) if stands_out(coarse, stain) else 1.0
    if share * height * width < FOCUS_MIN_STAIN:
        stained = share * height * width
        return None, f"too little stain to judge: about {stained:.0f} pixels, focus needs {FOCUS_MIN_STAIN}"
    side = max(1, FOCUS_TILE // coarse_factor)  # a tile's side in coarse pixels
    span = side * coarse_factor
    if height <= 2 * span and width <= 2 * span:
        return focus_measure(plane), None
    rows, cols = coarse.shape[0] // side, coarse.shape[1] // side
    held = coarse[: rows * side, : cols * side].reshape(rows, side, cols, side).mean(axis=(1, 3))
    laplacian = gradient = 0.0
    laplacian_count = gradient_count = 0
    for index in np.argsort(held, axis=None)[-FOCUS_TILES:]:
        top, left = (int(i) * span for i in divmod(int(index), cols))
        parts = focus_energies(plane[top : top + span, left : left + span])
        laplacian += parts[0]
        laplacian_count += parts[1]
        gradient += parts[2]
        gradient_count += parts[3]
    if gradient == 0:
        return None, None
    return (laplacian / laplacian_count) / (2 * gradient / gradient_count), None


def focus_measure(image: np.ndarray) -> float | None:
    """Mean energy of the 5-point Laplacian over mean energy of the forward-difference gradient."""
    laplacian, laplacian_count, gradient, gradient_count = focus_energies(image)
    if gradient == 0:
        return None
    # Means, not sums: the Laplacian exists on the inner pixels only, and a pixel has two differences.
    return (laplacian / laplacian_count) / (2 * gradient / gradient_count)


def focus_energies(image: np.ndarray) -> tuple[float, int, float, int]:
    """Energy and count of the 5-point Laplacian and of the forward differences of ``image``."""
    image = np.asarray(image, dtype=np.float32)
    dy = image[1:] - image[:-1]
    dx = image[:, 1:] - image[:, :-1]
    laplacian = dy[1:, 1:-1] - dy[:-1, 1:-1]
    laplacian += dx[1:-1, 1:]
    laplacian -= dx[1:-1, :-1]
    return _energy(laplacian), laplacian.size, _energy(dy) + _energy(dx), dy.size + dx.size


def _energy(values: np.ndarray) -> float:
    """The sum of squares (a dot product: fast, and precise enough in float32 for a ratio)."""
    flat = values.reshape(-1)
    return float(np.dot(flat, flat))


def coarse_rows(factor: int) -> int:
    """How many rows of each block of ``factor`` x ``factor`` pixels the coarse image averages."""
    return factor if factor < 4 else COARSE_ROWS


def coarse_image(plane: np.ndarray, factor: int) -> np.ndarray:
    """The mean of each ``factor`` x ``factor`` block over ``coarse_rows`` of its rows spread over it
    (and all its columns), float32; partial blocks at the end are left out. Two rows of eight or
    twelve see the cells as well as all of them, and reading a third or a sixth of the image is
    most of what the coarse image costs."""
    rows = coarse_rows(factor)
    if rows == factor:
        return block_mean(plane, factor)
    height, width = (side // factor * factor for side in plane.shape)
    offsets = [(2 * k + 1) * factor // (2 * rows) for k in range(rows)]
    summed = np.array(plane[offsets[0] : height : factor, :width], dtype=np.float32)
    for offset in offsets[1:]:
        summed += plane[offset:height:factor, :width]
    total = np.array(summed[:, 0::factor])
    for k in range(1, factor):
        total += summed[:, k::factor]
    total *= np.float32(1 / (rows * factor))
    return total


_GAINS: dict[tuple[int, int, float], float] = {}


def _white_noise_gain(rows: int, columns: int, sigma: float) -> float:
    """What a block mean over ``rows`` x ``columns`` pixels and a Gaussian of ``sigma`` leave of white
    noise's standard deviation (exact for the discrete filters, away from the edges)."""
    key = (rows, columns, sigma)
    if key not in _GAINS:
        impulse = np.zeros(int(8 * sigma) * 2 + 1, dtype=np.float64)
        impulse[impulse.size // 2] = 1.0
        weights = ndimage.gaussian_filter1d(impulse, sigma, mode="constant")
        # Per axis the standard deviation keeps sqrt(sum of squared weights) over sqrt(pixels averaged).
        _GAINS[key] = float(np.sum(weights**2)) / math.sqrt(rows * columns)
    return _GAINS[key]
