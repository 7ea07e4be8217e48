"""Quality control of a sample's channels at import: saturated, blank, out of focus, misregistered.

Real data sets hold channels that are blank, saturated, out of focus or not registered with the
others (the paper lost 1,244 of 20,000 samples to corrupt channels). ``assess_sample`` measures
every channel of a ``(4, H, W)`` uint8 or uint16 sample (red microtubules, green protein, blue
nucleus, yellow endoplasmic reticulum) and compares the measures with ``QualityThresholds``; a
channel past a threshold gets a ``QualityFlag``. Nothing is skipped or changed: the flags are for
people to look at and for analyses to leave out. numpy and scipy only; about 0.13 s for a
2048 x 2048 16-bit sample on one core (benchmarks/bench_quality.py).

Three versions of each channel are measured. Each is the channel's mean over blocks of f x f
pixels (the last rows and columns that do not fill a block are left out):

- the *full* image (f = 1), for saturation, grey levels and noise;
- the *focus* image, f = ceil(longer side / 1024), so that one field of view recorded at 2048 or
  at 3072 pixels is judged at about the same resolution;
- the *coarse* image, f = ceil(longer side / 256), smoothed by a Gaussian of 2 coarse pixels, for
  the dynamic range and, smoothed further, for the registration.

The measures, each per channel, and their default thresholds (``QualityThresholds``):

``saturated`` (flag ``saturated`` over 0.01, i.e. 1% of the pixels)
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
    to 99.9th percentile of the coarse image, over the standard deviation that the channel's noise
    keeps in the coarse image. The noise (``noise``, grey levels) is estimated on the full image
    with Immerkaer's operator (J. Immerkaer, "Fast noise variance estimation", Computer Vision and
    Image Understanding 64(2), 1996), robustly: the median absolute response of the kernel
    [[1,-2,1],[-2,4,-2],[1,-2,1]] over 0.6745 x 6, and at least the rounding noise of whole grey
    levels, 1/sqrt(12); it is scaled by what the block mean and the Gaussian leave of white noise.
    This is dynamic range in the camera engineer's sense (signal range over the noise floor, as in
    EMVA 1288), measured on the image. Nothing but noise spans about 6 to 7.5 noise widths, a
    constant channel 0; the faintest stains of the synthetic generator span over 20, the real HPA
    field's channels over 20,000. A range relative to the container's would not do: a faint but
    sound stain of a 16-bit camera uses 0.2% of it, a 12-bit sensor never more than 6%.
    ``levels`` is the number of grey levels from the 0.1th to the 99.9th percentile of the full
    image (its difference plus one): a channel whose pixels take only one to three values is blank
    even if those few values draw cells. A blank protein (green) channel can be a true negative
    staining; a blank reference channel is a failed one.

``focus`` (flag ``out_of_focus`` under 0.35)
    The energy of the Laplacian over the energy of the gradient in the focus image,
    mean((Lx)^2) / mean(|grad x|^2), with the 5-point Laplacian L and forward differences. It
    belongs to the family of derivative-based focus measures (the variance of the Laplacian,
    Pech-Pacheco et al., ICPR 2000; Tenengrad, Krotkov 1987; the survey of Pertuz, Puig and
    Garcia, "Analysis of focus measure operators for shape-from-focus", Pattern Recognition 46,
    2013), but divides one by the other, so that it depends neither on brightness nor on contrast
    nor on how much of the field the cells cover. By Parseval's theorem it is the mean squared
    spatial frequency (2 - 2 cos w summed over both axes; about w^2 in rad^2/px^2 when small)
    weighted by the image's gradient energy: blur removes the fine detail and lowers it. Sharp
    synthetic fields measure 0.48 and up (the smooth nuclear stain lowest), the real HPA field 1.4
    to 2.2; a Gaussian blur of 2 pixels brings 16-bit synthetic channels under 0.34, of 3 pixels
    under 0.36 (the faint protein stains) and mostly under 0.13; 8-bit channels, rounded again
    after the blur, keep more. White noise measures 5, the maximum is 8. Noise therefore looks
    sharp: defocus under heavy noise (a dim channel, or the shot noise of a 16-bit camera laid over
    an optically blurred field: in the synthetic generator, blur before the camera is never
    caught) is missed; a blur of the recorded image is caught, as is defocus in clean data.
    Channels without any gradient (constant) measure None.

``shift`` (flag ``misregistered`` over 0.02, i.e. 2% of the image's longer side)
    The offset of the channel against the others, in pixels of the original image: ``shift_dy``
    and ``shift_dx`` are positive when the channel's content lies lower or further right than the
    others', ``shift`` is the length, ``shift_fraction`` the length over the longer side (the
    flagged value). Each channel's cell mask is its coarse image smoothed to 4 coarse pixels,
    log-compressed above its floor in units of its noise and thresholded by Otsu's method (N. Otsu,
    IEEE Trans. Systems, Man and Cybernetics 9(1), 1979): it approximates where the stain is,
    whatever the stain. Two masks are compared at every displacement d up to half the image,
    within the part of the frame they share, from zero-padded FFTs (the frame-masked correlation
    of D. Padfield, "Masked object registration in the Fourier domain", IEEE Trans. Image
    Processing 21(5), 2012), by one of two scores: Pearson's correlation of the two masks, for
    stains of alike shape, and the *coverage*, the share of one mask inside the other with its
    holes filled, for a stain that lies inside cells. The offset of a
    pair is the shortest displacement whose score comes within 2% (a correlation) or 5% (a
    coverage) of the best, so that a displacement is only reported where it clearly fits better
    than none. The stains play different parts:

    - red (microtubules) and yellow (ER) both fill the cytoplasm, so their masks, holes at the
      nuclei and all, are alike: their correlation finds their offset precisely. Which of the two
      moved, the other stains tell: the one in whose cells the nuclei and the protein would lie
      better if moved (by more than 0.02 of coverage or correlation, on average) gets the offset,
      the other none; when neither is clearly worse, both get it.
    - blue (nuclei) must lie inside cells: its offset is the shortest displacement at which its
      nuclei lie (within 5%) as well as they can inside the union of the other channels' cells.
    - green (the protein) may take the references' shape (cytosol, ER) or lie anywhere inside
      their cells (nucleoli, Golgi apparatus): its offset is the shortest of its offsets against
      red and yellow, by correlation and by coverage: it is flagged when it fits neither anyhow.

    Regions of the nuclear and protein masks that touch the image's border are left out of the
    coverage (their cells are cut by the border, and so are the other stains' masks around them);
    a channel with no other region is not compared that way. Plain overlap and correlation rather
    than phase correlation, because the masks of different stains differ in shape and phase
    correlation, which assumes one picture displaced, whitens the difference into noise (on the
    real HPA field it put red and blue 13 coarse pixels apart). Blank channels, and channels whose
    mask covers under 0.5% or over 99.5% of the field, take no part and measure None; so does a
    channel with no partner left. What can be seen, in 512-pixel synthetic fields (16 each): a
    shift of red or yellow by 3% of the side in most fields and by 5% in nearly all, of the
    protein by 5 to 10%, of the nuclei once they leave their cells (10 to 20%); a small shift of red
    or yellow may flag both. No registered synthetic field of 512 pixels was flagged (of 170); of
    256-pixel fields, with one to three cells each, 2 in 100 were.

A flag carries the measure's name, its value and the threshold it passed. A blank channel is not
also flagged out of focus or misregistered: it has nothing to focus on or to register.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

CHANNELS = ("red", "green", "blue", "yellow")  # as study.store.CHANNELS, without importing torch
# What each channel stains, for the registration: red (microtubules) and yellow (ER) fill the
# cytoplasm; blue marks nuclei; the protein (green) may lie anywhere in the cells.
ROLES = {"red": "reference", "yellow": "reference", "blue": "nucleus", "green": "protein"}
CHECKS = ("saturated", "blank", "out_of_focus", "misregistered")

FOCUS_SIDE = 1024  # the focus image's longer side is at most this
COARSE_SIDE = 256  # the coarse image's longer side is at most this
RANGE_SMOOTHING = 2.0  # Gaussian sigma, coarse pixels, before the dynamic range is taken
MASK_SMOOTHING = 4.0  # Gaussian sigma, coarse pixels, before the cell mask is thresholded
PERCENTILES = (0.1, 99.9)
MASK_COVER = (0.005, 0.995)  # a usable mask covers more than the first fraction, less than the second
NEAR_PEAK = 0.02  # correlations this close to the best (relative) count as good as the best
ATTRIBUTION_MARGIN = 0.02  # how much better the nuclei and protein must lie in one stain's cells
NEAR_FULL = 0.05  # overlaps and coverages this close: stains of different kinds never match exactly
NOISE_SAMPLE_ROWS = 64  # the noise is estimated on about this many rows of the full image
LEVEL_SAMPLE = 1 << 18  # the grey levels are counted on about this many pixels of the full image
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
    max_shift: float = 0.02  # largest offset against the other channels, as a fraction of the longer side

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
class ChannelQuality:
    """One channel's measures (see the module's documentation); None where a measure does not apply."""

    channel: str
    saturated: float
    saturation_level: int
    levels: int
    dynamic_range: float
    noise: float  # standard deviation of the noise in the full image, grey levels
    focus: float | None
    shift_dy: float | None  # pixels of the original image
    shift_dx: float | None
    shift: float | None
    shift_fraction: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {item.name: getattr(self, item.name) for item in fields(self) if item.name != "channel"}


@dataclass(frozen=True)
class SampleQuality:
    channels: tuple[ChannelQuality, ...]
    flags: tuple[QualityFlag, ...]
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

    def as_dict(self) -> dict:
        """Measures and flags as plain JSON, for a database field or a report."""
        return {
            "measures": self.measures,
            "flags": [
                {"channel": f.channel, "check": f.check, "measure": f.measure, "value": f.value,
                 "threshold": f.threshold}
                for f in self.flags
            ],
        }


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
    focus_factor = max(1, math.ceil(side / FOCUS_SIDE))
    coarse_factor = max(1, math.ceil(side / COARSE_SIDE))

    measured = []
    masks: list[np.ndarray | None] = []
    for plane in pixels:
        plane = np.asarray(plane)
        saturated, level = saturation(plane)
        levels = grey_levels(plane)
        noise = noise_sigma(plane)
        focus_image = block_mean(plane, focus_factor)
        if coarse_factor % focus_factor == 0:
            coarse = block_mean(focus_image, coarse_factor // focus_factor)
        else:
            coarse = block_mean(plane, coarse_factor)
        coarse = ndimage.gaussian_filter(coarse, RANGE_SMOOTHING, mode="nearest")
        dynamic = dynamic_range(coarse, noise * _white_noise_gain(coarse_factor, RANGE_SMOOTHING))
        measured.append((saturated, level, levels, dynamic, noise, focus_measure(focus_image)))
        blank = dynamic < thresholds.min_range or levels < thresholds.min_levels
        masks.append(None if blank else cell_mask(coarse, noise))
    shifts = channel_offsets(masks, [ROLES.get(name, "protein") for name in channels])

    qualities, flags = [], []
    for name, (saturated, level, levels, dynamic, noise, focus), shift in zip(channels, measured, shifts):
        if shift is None:
            dy = dx = length = fraction = None
        else:
            dy, dx = float(shift[0] * coarse_factor), float(shift[1] * coarse_factor)
            length = math.hypot(dy, dx)
            fraction = length / side
        qualities.append(
            ChannelQuality(name, saturated, level, levels, dynamic, noise, focus, dy, dx, length, fraction)
        )
        if saturated > thresholds.saturated:
            flags.append(QualityFlag(name, "saturated", saturated, thresholds.saturated, "saturated"))
        if dynamic < thresholds.min_range:
            flags.append(QualityFlag(name, "blank", dynamic, thresholds.min_range, "dynamic_range"))
            continue
        if levels < thresholds.min_levels:
            flags.append(QualityFlag(name, "blank", float(levels), float(thresholds.min_levels), "levels"))
            continue
        if focus is not None and focus < thresholds.min_focus:
            flags.append(QualityFlag(name, "out_of_focus", focus, thresholds.min_focus, "focus"))
        if fraction is not None and fraction > thresholds.max_shift:
            flags.append(QualityFlag(name, "misregistered", fraction, thresholds.max_shift, "shift_fraction"))
    return SampleQuality(tuple(qualities), tuple(flags), thresholds)


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
    height = plane.shape[0]
    step = max(1, (height - 2) // NOISE_SAMPLE_ROWS)
    centres = np.arange(1, height - 1, step)
    rows = np.asarray(plane[np.concatenate([centres - 1, centres, centres + 1])], dtype=np.float32)
    above, middle, below = np.split(rows, 3)
    vertical = above - 2 * middle + below  # the kernel is [1,-2,1] down times [1,-2,1] across
    response = vertical[:, :-2] - 2 * vertical[:, 1:-1] + vertical[:, 2:]
    sigma = float(np.median(np.abs(response))) / (MAD_TO_SIGMA * 6.0)
    return max(sigma, QUANTISATION_NOISE)


def dynamic_range(coarse: np.ndarray, noise: float) -> float:
    """The smoothed coarse image's 0.1th to 99.9th percentile spread over the noise it keeps."""
    low, high = np.percentile(coarse, PERCENTILES)
    return float(high - low) / noise


def focus_measure(image: np.ndarray) -> float | None:
    """Mean energy of the 5-point Laplacian over mean energy of the forward-difference gradient."""
    dy = image[1:] - image[:-1]
    dx = image[:, 1:] - image[:, :-1]
    gradient = _energy(dy) + _energy(dx)
    if gradient == 0:
        return None
    laplacian = dy[1:, 1:-1] - dy[:-1, 1:-1]
    laplacian += dx[1:-1, 1:]
    laplacian -= dx[1:-1, :-1]
    # Means, not sums: the Laplacian exists on the inner pixels only, and a pixel has two differences.
    return (_energy(laplacian) / laplacian.size) / (2 * gradient / (dy.size + dx.size))


def _energy(values: np.ndarray) -> float:
    """The sum of squares (a dot product: fast, and precise enough in float32 for a ratio)."""
    flat = values.reshape(-1)
    return float(np.dot(flat, flat))


def cell_mask(coarse: np.ndarray, noise: float) -> np.ndarray | None:
    """Where the cells are, roughly: the smoothed channel, log-compressed above its floor in noise
    widths, thresholded by Otsu's method; None when it covers almost none or almost all the field."""
    smooth = ndimage.gaussian_filter(coarse, math.sqrt(MASK_SMOOTHING**2 - RANGE_SMOOTHING**2), mode="nearest")
    floor = float(np.percentile(smooth, PERCENTILES[0]))
    compressed = np.log1p(np.maximum(smooth - floor, 0) / max(noise, 1e-12))
    mask = compressed > otsu_threshold(compressed)
    if not MASK_COVER[0] < mask.mean() < MASK_COVER[1]:
        return None
    return mask


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that maximises the between-class variance of a 256-bin histogram (Otsu 1979)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return high
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts, dtype=np.float64)
    cumulative = np.cumsum(counts * centres)
    below, above = weight[:-1], weight[-1] - weight[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        between = (cumulative[-1] / weight[-1] * below - cumulative[:-1]) ** 2 / (below * above)
    return float(edges[1:-1][int(np.nanargmax(between))])


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with its holes filled: the background regions that do not reach the border."""
    labels, count = ndimage.label(~mask)
    if count == 0:
        return mask
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return ~np.isin(labels, outside[outside > 0])


def channel_offsets(masks: list[np.ndarray | None], roles: list[str]) -> list[tuple[int, int] | None]:
    """Each channel's offset (dy, dx) in coarse pixels against the others, None for a channel without
    a mask or without partners. ``roles`` says what each channel stains: "reference" (a stain that
    fills the cytoplasm: microtubules, ER), "nucleus", or "protein" (anything, anywhere in cells)."""
    usable = [i for i, mask in enumerate(masks) if mask is not None]
    offsets: list[tuple[int, int] | None] = [None] * len(masks)
    if len(usable) < 2:
        return offsets
    overlap = _Overlap(masks[usable[0]].shape)
    references = [i for i in usable if roles[i] == "reference"]
    nuclei = [i for i in usable if roles[i] == "nucleus"]
    proteins = [i for i in usable if roles[i] not in ("reference", "nucleus")]
    for i in usable:
        overlap.add(("filled", i), fill_holes(masks[i]))
    for i in references + proteins:
        overlap.add(i, masks[i])
    for i in nuclei + proteins:
        # Regions cut by the border lie in cells cut by the border, whose masks are cut too.
        overlap.add(("inner", i), clear_border(fill_holes(masks[i])))
    # A stain whose every region touches the border tells nothing.
    contained = [i for i in nuclei + proteins if overlap.masks[("inner", i)].any()]
    # offset[a, b]: how far channel a lies from channel b.
    pairwise: dict[tuple[int, int], tuple[int, int]] = {}
    for a in contained:  # the nuclei and the protein lie in cells
        for b in references:
            dy, dx = overlap.offset(("inner", a), ("filled", b), overlap.coverage)
            pairwise[a, b], pairwise[b, a] = (dy, dx), (-dy, -dx)
    for a in proteins:
        # The protein may take the references' shape (cytosol, ER) or lie anywhere inside their
        # cells (nucleoli, Golgi): it is misplaced when it does neither, against either reference.
        candidates = [pairwise[a, b] for b in references if (a, b) in pairwise]
        candidates += [overlap.offset(a, b, overlap.correlation) for b in references]
        if candidates:
            offsets[a] = min(candidates, key=lambda d: (d[0] ** 2 + d[1] ** 2, d))
    for a in nuclei:
        if a in contained:
            others = [("filled", i) for i in usable if i != a]
            overlap.add(("cells", a), np.logical_or.reduce([overlap.masks[key] for key in others]))
            offsets[a] = overlap.offset(("inner", a), ("cells", a), overlap.coverage)
    if len(references) == 2:
        # Alike stains, alike masks, holes and all: their correlation finds their offset. Which of
        # the two moved, the nuclei and the protein tell: they lie less well in its cells.
        first, second = references
        dy, dx = overlap.offset(first, second, overlap.correlation)
        offsets[first], offsets[second] = (0, 0), (0, 0)
        if (dy, dx) != (0, 0):
            # How much better the nuclei and the protein would match each stain if moved.
            loss = {
                r: [overlap.misfit(("inner", c), ("filled", r), overlap.coverage) for c in contained]
                + [overlap.misfit(c, r, overlap.correlation) for c in proteins]
                for r in references
            }
            difference = float(np.mean(loss[second]) - np.mean(loss[first])) if loss[first] else 0.0
            if difference <= ATTRIBUTION_MARGIN:
                offsets[first] = (dy, dx)
            if difference >= -ATTRIBUTION_MARGIN:
                offsets[second] = (-dy, -dx)
    else:
        for r in references:  # one reference: against the nuclei and the protein
            candidates = [pairwise[r, c] for c in contained]
            candidates += [overlap.offset(r, c, overlap.correlation) for c in proteins]
            if candidates:
                ranked = sorted(candidates, key=lambda d: (d[0] ** 2 + d[1] ** 2, d))
                offsets[r] = ranked[(len(ranked) - 1) // 2]
    return offsets


def clear_border(mask: np.ndarray) -> np.ndarray:
    """The mask without its regions that touch the image's border."""
    labels, count = ndimage.label(mask)
    touching = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return mask & ~np.isin(labels, touching[touching > 0])


class _Overlap:
    """Similarity scores of binary masks at every displacement up to half the image, within the
    part of the frame that they share, from zero-padded FFTs (the frame-masked correlation of
    Padfield 2012)."""

    def __init__(self, shape: tuple[int, int]):
        self.padded = tuple(sfft.next_fast_len(n + n // 2, real=True) for n in shape)
        self.frame = sfft.rfft2(np.ones(shape, dtype=np.float32), self.padded)
        self.shared = self._correlate(self.frame, self.frame)  # pixels shared by the two frames
        self.masks: dict[object, np.ndarray] = {}
        self.spectra: dict[object, np.ndarray] = {}
        self.counts: dict[object, tuple[np.ndarray, np.ndarray]] = {}
        dy = np.fft.fftfreq(self.padded[0], 1 / self.padded[0]).round().astype(np.int64)
        dx = np.fft.fftfreq(self.padded[1], 1 / self.padded[1]).round().astype(np.int64)
        self.dy, self.dx = dy[:, None], dx[None, :]
        self.window = (np.abs(self.dy) <= shape[0] // 2) & (np.abs(self.dx) <= shape[1] // 2)

    def _correlate(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """sum over p of a(p + d) b(p) at every displacement d (negative ones wrapped to the end)."""
        return np.rint(sfft.irfft2(a * np.conj(b), self.padded))  # counts of pixels: whole numbers

    def add(self, key: object, mask: np.ndarray) -> None:
        spectrum = sfft.rfft2(mask.astype(np.float32), self.padded)
        self.masks[key] = mask
        self.spectra[key] = spectrum
        # The mask's pixels within the shared frame, displaced by d and staying put.
        self.counts[key] = (self._correlate(spectrum, self.frame), self._correlate(self.frame, spectrum))

    def coverage(self, a: object, b: object) -> np.ndarray:
        """The share of mask a's pixels inside mask b, a displaced by d."""
        inside = self._correlate(self.spectra[a], self.spectra[b])
        total = self.counts[a][0]
        return np.divide(inside, total, out=np.zeros_like(inside), where=total > 0)

    def misfit(self, a: object, b: object, score) -> float:
        """How much better mask a matches mask b at the best displacement than at none."""
        values = score(a, b)
        return float(values[self.window].max() - values[0, 0])

    def correlation(self, a: object, b: object) -> np.ndarray:
        """The correlation coefficient (Pearson's) of the two masks over the shared frame."""
        n = np.maximum(self.shared, 1)
        count_a, count_b = self.counts[a][0], self.counts[b][1]
        both = self._correlate(self.spectra[a], self.spectra[b])
        spread = count_a * (1 - count_a / n) * count_b * (1 - count_b / n)
        covariance = both - count_a * count_b / n
        return np.divide(covariance, np.sqrt(np.maximum(spread, 0)), out=np.zeros_like(both), where=spread > 0)

    def offset(self, a: object, b: object, score) -> tuple[int, int]:
        """The shortest displacement of mask a against mask b whose score comes within NEAR_PEAK
        (a correlation) or NEAR_FULL (an overlap or a coverage) of the best."""
        values = np.where(self.window, score(a, b), -np.inf)
        best = float(values.max())
        near = values >= best - (NEAR_PEAK if score == self.correlation else NEAR_FULL) * abs(best)
        length = np.where(near, self.dy**2 + self.dx**2, np.iinfo(np.int64).max)
        row, col = np.unravel_index(int(np.argmin(length)), length.shape)
        return int(self.dy[row, 0]), int(self.dx[0, col])


def block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """The mean of each ``factor`` x ``factor`` block, float32; partial blocks at the end are left out."""
    if factor == 1:
        return np.asarray(plane, dtype=np.float32)
    height, width = (side // factor * factor for side in plane.shape)
    # Sums of whole rows, then of columns: numpy adds long rows far faster than it reduces a short axis.
    rows = np.array(plane[0:height:factor, :width], dtype=np.float32)
    for k in range(1, factor):
        rows += plane[k:height:factor, :width]
    total = np.array(rows[:, 0::factor])
    for k in range(1, factor):
        total += rows[:, k::factor]
    total *= np.float32(1 / (factor * factor))
    return total


_GAINS: dict[tuple[int, float], float] = {}


def _white_noise_gain(factor: int, sigma: float) -> float:
    """What a block mean of ``factor`` and a Gaussian of ``sigma`` leave of white noise's standard
    deviation (exact for the discrete filters, away from the edges)."""
    key = (factor, sigma)
    if key not in _GAINS:
        impulse = np.zeros(int(8 * sigma) * 2 + 1, dtype=np.float64)
        impulse[impulse.size // 2] = 1.0
        weights = ndimage.gaussian_filter1d(impulse, sigma, mode="constant")
        # Per axis the standard deviation keeps sqrt(sum of squared weights); two axes multiply.
        _GAINS[key] = float(np.sum(weights**2)) / factor
    return _GAINS[key]
