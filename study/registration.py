"""Channel registration: how far each channel of a sample lies from the others, in pixels.

A camera or a filter cube out of line moves one channel's picture against the others. The four
stains differ in shape (microtubules, ER, nuclei, a protein anywhere), so no channel is a copy of
another, and a crop of one cell shows too little to tell a shift from the stains' own differences
(the ER's envelope rim lies a pixel or two outside the nucleus; the microtubules gather on the
centrosome's side of it). Registration is therefore judged only on fields holding at least
``MIN_NUCLEI`` whole nuclei; on others every channel's offset is None with the reason. It is
measured at two scales:

*Nearby* (up to ``FINE_REACH`` tile pixels, more where the far masks are coarse): square tiles of
``TILE`` pixels around up to ``MAX_TILES`` nuclei spread over the field, at a resolution where a
nucleus is about ``NUCLEUS_PIXELS`` wide (full resolution for most synthetic fields; every 3rd
pixel for the Human Protein Atlas' large nuclei). In each tile every channel becomes its *edge
image*: its intensity above its floor, log-compressed in units of its noise so that dim and bright
cells count alike, and the magnitude of its gradient at the scale of a Gaussian of
``EDGE_SMOOTHING`` pixels. Edges are what stains share: the cell's outline (microtubules, ER, a
cytoplasmic protein), the nucleus' outline (the nuclear stain, and the hole it leaves in the
others). Two channels' edge images are correlated at every displacement within the reach
(Hann-windowed, normalised: a correlation coefficient). This is gradient-magnitude correlation,
the usual way to register images of different modalities (Maintz & Viergever, "A survey of medical
image registration", Medical Image Analysis 2(1), 1998). Nuclei and ER are not paired, for the rim.
``explain_pairs`` then says, greedily, which channel moved: the one whose *joint* correlation (its
pairs' mean, each turned to measure its own displacement) peaks away from none, gains most there,
and does so in most tiles alike; its pairs are set aside and the rest judged again. A channel that
did not move *fits* when its joint correlation peaks at none.

*Far* (any displacement up to half the field), for a channel that fits nowhere near: the channels'
cell masks on the coarse image reduced to at most ``FAR_SIDE`` pixels, compared at every
displacement within the part of the frame they share, from zero-padded FFTs (the frame-masked
correlation of D. Padfield, "Masked object registration in the Fourier domain", IEEE Trans. Image
Processing 21(5), 2012). A cell mask is the coarse image smoothed, log-compressed above its floor
and thresholded by Otsu's method (N. Otsu, IEEE Trans. Systems, Man and Cybernetics 9(1), 1979);
the nuclei's is the plain coarse image over Otsu's threshold, which keeps neighbours apart. Two
scores: Pearson's correlation of the two masks, for stains of alike shape (microtubules and ER
fill the cytoplasm), and the *coverage*, the share of one mask inside the other with its holes
filled, for a stain that lies inside cells (nuclei, and a protein anywhere in them). The offset of
a pair is the shortest displacement whose score comes within 2% (a correlation) or 5% (a coverage)
of the best:

- microtubules (red) and ER (yellow): their correlation finds their offset; the one in whose cells
  the nuclei and the protein would lie better if moved (by more than 0.02, on average) moved;
  when neither is clearly worse, both get the offset;
- nuclei (blue): the shortest displacement at which its nuclei lie (within 5%) as well as they can
  inside the union of the other channels' cells;
- protein (green): the shortest of its offsets against red and yellow, by correlation and by
  coverage: it moved when it fits neither anyhow.

Regions of the nuclear and protein masks that touch the border are left out of the coverage (their
cells are cut by it). Far offsets under ``FAR_RESOLUTION`` far pixels count as none. A channel
that fits nowhere near and whose far offset is none abstains: a protein stain that shares no edge
with the others (a few dots, say) cannot be placed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

# What each channel stains. Microtubules and ER fill the cytoplasm ("reference" stains for the
# coarse masks); the nucleus stain marks nuclei; the protein may lie anywhere in the cells.
ROLES = {"red": "microtubules", "green": "protein", "blue": "nucleus", "yellow": "er"}
REFERENCE_ROLES = ("microtubules", "er")
UNPAIRED_ROLES = frozenset({"nucleus", "er"})  # the ER's envelope rim lies beside the nucleus' edge
FAR_SIDE = 128  # the far masks' longer side is at most this
FAR_RESOLUTION = 2  # far offsets shorter than this many of their pixels are within the masks' own blur

MIN_NUCLEI = 3  # whole nuclei (not cut by the border) that a field needs for its registration to be judged
MIN_NUCLEUS_PIXELS = 100  # a smaller bright region of the nuclear stain is no nucleus
CONTRAST = 0.5  # how far stain must stand above the rest of the field to count as cells or nuclei
NUCLEUS_PIXELS = 64  # nearby registration runs where a nucleus is about this many pixels wide
TILE = 128  # side of a nearby registration tile, in its own pixels
MAX_TILES = 6
FINE_REACH = 24  # the nearby displacements looked at, tile pixels each way
EDGE_SMOOTHING = 2.0  # Gaussian sigma of the edge images, tile pixels
GAIN_MARGIN = 0.02  # least gain of a joint correlation that counts as a displacement
AGREEMENT = 0.6  # the share of tiles whose own best displacement must lie near the joint best
AGREEMENT_PIXELS = 2  # how near, tile pixels each way
PROMINENCE = 0.05  # how far a joint correlation's best must stand above its median over the reach
LEAST_CORRELATION = 0.1  # and how high it must be: stains that share a displacement correlate there

COARSE_SMOOTHING = 2.0  # the Gaussian sigma, coarse pixels, that the coarse images come smoothed by
MASK_SMOOTHING = 4.0  # Gaussian sigma, coarse pixels, before the cell mask is thresholded
MASK_COVER = (0.005, 0.995)  # a usable mask covers more than the first fraction, less than the second
NEAR_PEAK = 0.02  # correlations this close to the best (relative) count as good as the best
NEAR_FULL = 0.05  # coverages this close: stains of different kinds never match exactly
ATTRIBUTION_MARGIN = 0.02  # how much better the nuclei and protein must lie in one stain's cells


@dataclass(frozen=True)
class ChannelOffset:
    """A channel's offset against the others in pixels of the sample (positive: its content lies
    lower or further right), or None and the reason it was not judged."""

    dy: float | None
    dx: float | None
    reason: str | None = None

    @property
    def length(self) -> float | None:
        return None if self.dy is None else math.hypot(self.dy, self.dx)


@dataclass(frozen=True)
class CoarseChannel:
    """What registration needs of one channel besides its pixels: its coarse image (smoothed), the
    noise of the full image, and its floor (the background level), or None for a blank channel."""

    image: np.ndarray | None
    noise: float
    floor: float


def register_channels(
    pixels: np.ndarray, coarse: list[CoarseChannel], coarse_factor: int, roles: list[str]
) -> list[ChannelOffset]:
    """The offset of each channel of ``pixels`` (``(C, H, W)``) against the others; ``coarse`` holds
    each channel's coarse image (None for a blank channel, which gets no offset)."""
    blank = ChannelOffset(None, None, "the channel is blank")
    nucleus = next((i for i, role in enumerate(roles) if role == "nucleus"), None)
    if nucleus is None or coarse[nucleus].image is None:
        reason = "no nuclei to register on: the nucleus (blue) channel is missing or blank"
        return [blank if c.image is None else ChannelOffset(None, None, reason) for c in coarse]
    nuclei_mask = nuclear_mask(coarse[nucleus].image)
    nuclei = [] if nuclei_mask is None else whole_nuclei(nuclei_mask, coarse_factor)
    if len(nuclei) < MIN_NUCLEI:
        reason = (
            f"too few cells to judge: {len(nuclei)} whole nuclei in the field, registration needs {MIN_NUCLEI}"
        )
        return [blank if c.image is None else ChannelOffset(None, None, reason) for c in coarse]

    near, reach = nearby_offsets(pixels, coarse, nuclei, roles, coarse_factor * far_factor(nuclei_mask))
    undecided = [
        c.image is not None and (v is None or v.beyond or (v.moved is None and not v.fits))
        for c, v in zip(coarse, near)
    ]
    far = far_offsets(coarse, nuclei_mask, nucleus, roles) if any(undecided) else [None] * len(coarse)
    scale = coarse_factor * far_factor(nuclei_mask)
    offsets = []
    for channel, (far_offset, verdict) in enumerate(zip(far, near)):
        far_px = None
        if far_offset is not None and math.hypot(*far_offset) >= FAR_RESOLUTION:
            far_px = (far_offset[0] * scale, far_offset[1] * scale)
        offsets.append(_combined(coarse[channel].image is None, far_px, far_offset is not None, verdict, reach))
    return offsets


def nuclear_mask(image: np.ndarray) -> np.ndarray | None:
    """The nuclear stain's coarse image over Otsu's threshold: nuclei are compact and bright, and a
    plain threshold keeps neighbours apart where a cell mask's log compression would merge them.
    None when what it divides is no nucleus from its background (see ``stands_out``)."""
    mask = image > otsu_threshold(image)
    return mask if stands_out(image, mask) else None


def stands_out(image: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the mask holds stain against a background: its mean stands above the rest's by at
    least ``CONTRAST`` of its own height over the image's floor. Otsu's method divides anything,
    the texture inside one nucleus or one cell too, and such a division stands out far less."""
    count = int(np.count_nonzero(mask))
    if count in (0, mask.size):
        return False
    total = float(image.sum(dtype=np.float64))
    held = float(np.sum(image, where=mask, dtype=np.float64))
    inside, outside = held / count, (total - held) / (mask.size - count)
    floor = float(image.min())
    return inside - outside >= CONTRAST * (inside - floor)


def far_factor(nuclei_mask: np.ndarray) -> int:
    """How much more the far masks reduce the coarse images: large shifts need no finer than
    ``FAR_SIDE``, and the FFTs cost a quarter."""
    return max(1, math.ceil(max(nuclei_mask.shape) / FAR_SIDE))


def far_offsets(
    coarse: list[CoarseChannel], nuclei_mask: np.ndarray, nucleus: int, roles: list[str]
) -> list[tuple[int, int] | None]:
    """Each channel's far offset, in far pixels (coarse pixels times ``far_factor``)."""
    factor = far_factor(nuclei_mask)
    masks = []
    for i, c in enumerate(coarse):
        if c.image is None:
            masks.append(None)
            continue
        image = block_mean(c.image, factor)
        masks.append(image > otsu_threshold(image) if i == nucleus else cell_mask(image, c.noise, factor))
    return channel_offsets(masks, roles)


def _combined(
    blank: bool, far_px: tuple[float, float] | None, far_measured: bool, verdict: NearbyVerdict | None, reach: float
) -> ChannelOffset:
    """A channel's offset from its far offset (None where within the far resolution) and its nearby
    verdict: nearby wins within its reach, the far registration beyond it."""
    if blank:
        return ChannelOffset(None, None, "the channel is blank")
    if verdict is not None and verdict.moved is not None and not verdict.beyond:
        return ChannelOffset(float(verdict.moved[0]), float(verdict.moved[1]))
    if verdict is not None and verdict.fits:
        return ChannelOffset(0.0, 0.0)
    if far_px is not None and (verdict is None or verdict.moved is None or math.hypot(*far_px) > reach):
        return ChannelOffset(float(far_px[0]), float(far_px[1]))
    if verdict is not None and verdict.moved is not None:  # beyond the reach, the far says no farther
        return ChannelOffset(float(verdict.moved[0]), float(verdict.moved[1]))
    if verdict is None and far_measured:
        return ChannelOffset(0.0, 0.0)
    if verdict is None:
        return ChannelOffset(None, None, "no other channel to register it against")
    return ChannelOffset(
        None, None, "its edges fit the other channels' at no displacement near, and its cell mask tells nothing far"
    )


def whole_nuclei(nuclear_mask: np.ndarray, factor: int) -> list[tuple[float, float, float]]:
    """Centre (y, x) and area, in pixels of the sample, of each region of the nuclear stain's
    coarse mask (its coarse image over Otsu's threshold) that the border does not cut."""
    mask = clear_border(nuclear_mask)
    labels, count = ndimage.label(mask)
    if count == 0:
        return []
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(mask, labels, index) * factor * factor
    centres = ndimage.center_of_mass(mask, labels, index)
    return [
        ((cy + 0.5) * factor, (cx + 0.5) * factor, float(area))
        for (cy, cx), area in zip(centres, areas)
        if area >= MIN_NUCLEUS_PIXELS
    ]


def nearby_offsets(
    pixels: np.ndarray,
    coarse: list[CoarseChannel],
    nuclei: list[tuple[float, float, float]],
    roles: list[str],
    coarse_factor: int,
) -> tuple[list[NearbyVerdict | None], float]:
    """Each channel's nearby verdict, offsets in pixels of the sample (None when it takes no part),
    and the reach in pixels of the sample."""
    diameters = [2 * math.sqrt(area / math.pi) for _, _, area in nuclei]
    factor = max(1, round(float(np.median(diameters)) / NUCLEUS_PIXELS))
    _, height, width = pixels.shape
    side = min(TILE, height // factor, width // factor) // 2 * 2
    # Far enough to meet the far offsets' resolution, within a quarter of the tile.
    reach = min(max(FINE_REACH, math.ceil(FAR_RESOLUTION * coarse_factor / factor) + 2), side // 4)
    usable = [i for i, c in enumerate(coarse) if c.image is not None]
    pairs = [(a, b) for a in usable for b in usable if a < b and {roles[a], roles[b]} != UNPAIRED_ROLES]
    if not pairs:
        return [None] * len(coarse), 0.0
    window = np.outer(np.hanning(side), np.hanning(side)).astype(np.float32)
    # Nuclei in reading order, every so many of them: tiles spread over the field.
    ordered = sorted(nuclei, key=lambda n: (int(n[0] * 3 // height), n[1]))
    chosen = ordered[:: max(1, len(ordered) // MAX_TILES)][:MAX_TILES]
    surfaces = {pair: np.empty((len(chosen), 2 * reach + 1, 2 * reach + 1), np.float32) for pair in pairs}
    # Displacements -reach..reach of one channel against another, from the wrapped-around ends.
    rows = np.r_[side - reach : side, 0 : reach + 1]
    span = side * factor
    for number, (cy, cx, _) in enumerate(chosen):
        top = min(max(int(round(cy - span / 2)), 0), height - span)
        left = min(max(int(round(cx - span / 2)), 0), width - span)
        spectra = {}
        for i in usable:
            tile = block_mean(pixels[i, top : top + span, left : left + span], factor)
            edges = edge_image(tile, coarse[i].floor, coarse[i].noise / factor) * window
            norm = math.sqrt(float(np.vdot(edges, edges)))
            spectra[i] = sfft.rfft2(edges / norm if norm > 0 else edges)
        for a, b in pairs:
            correlation = sfft.irfft2(spectra[a] * np.conj(spectra[b]), (side, side))
            surfaces[a, b][number] = correlation[np.ix_(rows, rows)]
    verdicts = explain_pairs(surfaces, reach)
    scaled: list[NearbyVerdict | None] = [None] * len(coarse)
    for i, verdict in verdicts.items():
        moved = verdict.moved and (verdict.moved[0] * factor, verdict.moved[1] * factor)
        scaled[i] = NearbyVerdict(moved, verdict.beyond, verdict.fits)
    return scaled, float(reach * factor)


def edge_image(tile: np.ndarray, floor: float, noise: float) -> np.ndarray:
    """The gradient magnitude of the tile (log-compressed above its floor in noise widths) at the
    scale of a Gaussian of ``EDGE_SMOOTHING``, minus its mean; the derivatives of the Gaussian are
    taken in the Fourier domain (the tile is windowed afterwards, so its wrapped-around edges,
    which such derivatives see, weigh nothing)."""
    compressed = np.log1p(np.maximum(tile - np.float32(floor), 0) * np.float32(1 / (3 * max(noise, 1e-6))))
    towards_y, towards_x = _derivatives(tile.shape)
    spectrum = sfft.rfft2(compressed)
    edges = np.hypot(sfft.irfft2(spectrum * towards_y, tile.shape), sfft.irfft2(spectrum * towards_x, tile.shape))
    edges -= edges.mean()
    return edges


@lru_cache(maxsize=8)
def _derivatives(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The Fourier transfer functions of the y and x derivatives (central differences) of a Gaussian
    of ``EDGE_SMOOTHING``, for real FFTs of ``shape``."""
    wy = 2 * np.pi * np.fft.fftfreq(shape[0])[:, None]
    wx = 2 * np.pi * np.fft.rfftfreq(shape[1])[None, :]
    gaussian = np.exp(-0.5 * EDGE_SMOOTHING**2 * (wy**2 + wx**2))
    return (1j * np.sin(wy) * gaussian).astype(np.complex64), (1j * np.sin(wx) * gaussian).astype(np.complex64)


@dataclass(frozen=True)
class NearbyVerdict:
    """What the nearby registration says of a channel: it ``moved`` by (dy, dx) (``beyond``: at the
    edge of the reach, so at least that far), or it fits the others at none (``fits``), or neither:
    no displacement within the reach fits it, and the far registration must tell."""

    moved: tuple[float, float] | None = None
    beyond: bool = False
    fits: bool = False


def explain_pairs(surfaces: dict[tuple[int, int], np.ndarray], reach: int) -> dict[int, NearbyVerdict]:
    """Which channels moved, and by how much (tile pixels), from the pairs' correlation surfaces per
    tile (``surfaces[a, b][tile, reach + dy, reach + dx]``: channel a displaced by (dy, dx) against
    b). A displacement counts when, in the mean over the tiles, it is a peak (``PROMINENCE`` over
    the median, ``LEAST_CORRELATION`` high) that gains ``GAIN_MARGIN`` over none, and most tiles
    (``AGREEMENT``) find their own best within ``AGREEMENT_PIXELS`` of it: a channel out of line
    moves in every tile alike, where the stains' own differences point every which way. A channel
    that did not move fits when its joint correlation peaks at none the same way."""
    active = dict(surfaces)
    verdicts: dict[int, NearbyVerdict] = {}
    while active:
        candidates = []
        for channel in sorted({c for pair in active for c in pair}):
            per_tile, joint = _joint(active, channel)
            row, col = np.unravel_index(int(np.argmax(joint)), joint.shape)
            if _peaks(joint, row, col):
                gain = float(joint[row, col] - joint[reach, reach])
                candidates.append((gain, channel, row, col, joint, per_tile))
        if not candidates:
            break
        gain, channel, row, col, joint, per_tile = max(candidates, key=lambda item: item[:2])
        if gain < GAIN_MARGIN or (row, col) == (reach, reach):
            break
        bests = [np.unravel_index(int(np.argmax(tile)), tile.shape) for tile in per_tile]
        agreeing = sum(max(abs(r - row), abs(c - col)) <= AGREEMENT_PIXELS for r, c in bests)
        if agreeing < AGREEMENT * len(per_tile):
            break
        dy = row - reach + _vertex(joint[row - 1 : row + 2, col])
        dx = col - reach + _vertex(joint[row, col - 1 : col + 2])
        beyond = reach in (abs(row - reach), abs(col - reach))
        if len(active) == 1:
            # One pair left: which of its two channels moved cannot be told; both carry the offset.
            (a, b), _ = next(iter(active.items()))
            other = b if channel == a else a
            verdicts[channel] = NearbyVerdict((dy, dx), beyond)
            verdicts[other] = NearbyVerdict((-dy, -dx), beyond)
            return verdicts
        verdicts[channel] = NearbyVerdict((dy, dx), beyond)
        active = {pair: s for pair, s in active.items() if channel not in pair}
    for channel in {c for pair in active for c in pair} - set(verdicts):
        _, joint = _joint(active, channel)
        verdicts[channel] = NearbyVerdict(fits=_peaks(joint, reach, reach))
    return verdicts


def _joint(active: dict[tuple[int, int], np.ndarray], channel: int) -> tuple[np.ndarray, np.ndarray]:
    """The channel's joint correlation per tile and over the tiles: the mean of its pairs', each
    turned to measure the channel's own displacement."""
    oriented = [s if pair[0] == channel else s[:, ::-1, ::-1] for pair, s in active.items() if channel in pair]
    per_tile = np.mean(oriented, axis=0)
    return per_tile, per_tile.mean(axis=0)


def _peaks(joint: np.ndarray, row: int, col: int) -> bool:
    """Whether the joint correlation peaks at (row, col): the stains correlate there and stand out
    of the rest. Stains unrelated or opposed only correlate less badly somewhere away from none."""
    value = float(joint[row, col])
    return value >= LEAST_CORRELATION and value - float(np.median(joint)) >= PROMINENCE


def _vertex(values: np.ndarray) -> float:
    """Where the parabola through three values equally spaced around the middle one peaks, from -0.5
    to 0.5 (0 when the middle one lies on the edge of the surface and has no two neighbours)."""
    if len(values) < 3:
        return 0.0
    left, middle, right = (float(v) for v in values)
    curvature = left - 2 * middle + right
    return 0.0 if curvature >= 0 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


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


def cell_mask(coarse: np.ndarray, noise: float, reduced: int = 1) -> np.ndarray | None:
    """Where the cells are, roughly: the smoothed channel, log-compressed above its floor in noise
    widths, thresholded by Otsu's method; None when it covers almost none or almost all the field.
    ``reduced``: the coarse image was reduced by this factor more (its smoothing shrank alike)."""
    sigma = math.sqrt(MASK_SMOOTHING**2 - COARSE_SMOOTHING**2) / reduced
    smooth = ndimage.gaussian_filter(coarse, sigma, mode="nearest")
    floor = float(np.percentile(smooth, 0.1))
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


def clear_border(mask: np.ndarray) -> np.ndarray:
    """The mask without its regions that touch the image's border."""
    labels, count = ndimage.label(mask)
    touching = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return mask & ~np.isin(labels, touching[touching > 0])


def channel_offsets(masks: list[np.ndarray | None], roles: list[str]) -> list[tuple[int, int] | None]:
    """Each channel's far offset (dy, dx) in coarse pixels against the others, None for a channel
    without a mask or without partners (see the module's documentation)."""
    usable = [i for i, mask in enumerate(masks) if mask is not None]
    offsets: list[tuple[int, int] | None] = [None] * len(masks)
    if len(usable) < 2:
        return offsets
    overlap = _Overlap(masks[usable[0]].shape)
    references = [i for i in usable if roles[i] in REFERENCE_ROLES]
    nuclei = [i for i in usable if roles[i] == "nucleus"]
    proteins = [i for i in usable if roles[i] not in REFERENCE_ROLES and roles[i] != "nucleus"]
    for i in usable:
        overlap.add(("filled", i), fill_holes(masks[i]))
    for i in references + proteins:
        overlap.add(i, masks[i])
    for i in nuclei + proteins:
        overlap.add(("inner", i), clear_border(fill_holes(masks[i])))
    # A stain whose every region touches the border tells nothing.
    contained = [i for i in nuclei + proteins if overlap.masks[("inner", i)].any()]
    # pairwise[a, b]: how far channel a lies from channel b.
    pairwise: dict[tuple[int, int], tuple[int, int]] = {}
    for a in contained:
        for b in references:
            dy, dx = overlap.offset(("inner", a), ("filled", b), overlap.coverage)
            pairwise[a, b], pairwise[b, a] = (dy, dx), (-dy, -dx)
    for a in proteins:
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


class _Overlap:
    """Similarity scores of binary masks at every displacement up to half the image, within the
    part of the frame that they share, from zero-padded FFTs (Padfield 2012)."""

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
        (a correlation) or NEAR_FULL (a coverage) of the best."""
        values = np.where(self.window, score(a, b), -np.inf)
        best = float(values.max())
        near = values >= best - (NEAR_PEAK if score == self.correlation else NEAR_FULL) * abs(best)
        length = np.where(near, self.dy**2 + self.dx**2, np.iinfo(np.int64).max)
        row, col = np.unravel_index(int(np.argmin(length)), length.shape)
        return int(self.dy[row, 0]), int(self.dx[0, col])
