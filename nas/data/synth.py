"""The procedural hand renderer behind the built-in synthetic dataset (cached by `nas.data.synthetic`).

Each image is a 3D hand skeleton (21 keypoints, realistic bone proportions, random
flexion, splay, handedness and 3D orientation) projected with a pinhole camera and
painted with cv2 as tapered capsules plus a palm slab over a cluttered background.
Everything a pixel depends on comes from one generator seeded by (seed, index), so
images can be rendered in any order, chunking or process and still match exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from nas.errors import ConfigError

__all__ = ["RENDER_VERSION", "SynthConfig", "render_batch", "check_int"]

RENDER_VERSION = 1
"""Bump whenever rendering changes, so stale caches are not reused."""

NUM_KEYPOINTS = 21
MIN_SIZE, MAX_SIZE = 16, 1024
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel accurate drawing
_FP = float(1 << _SHIFT)
_AA = cv2.LINE_AA

# ---------------------------------------------------------------------------
# Hand model, in a hand frame measured in cm: x across the palm (thumb side -x for the
# unmirrored hand), y from the wrist towards the fingers, z out of the palm side.
# ---------------------------------------------------------------------------
_MCP = np.array([[-2.5, 8.6, 0.0], [-0.7, 8.9, 0.0], [1.0, 8.5, 0.0], [2.5, 7.7, 0.0]])
_PHALANX = np.array([[4.0, 2.4, 1.9], [4.5, 2.8, 2.0], [4.2, 2.7, 2.0], [3.4, 2.0, 1.8]])
_SPLAY = np.radians([-9.0, 0.0, 8.0, 17.0])  # finger directions at spread 1
_THUMB_CMC = np.array([-2.2, 2.3, 0.8])
_THUMB_LEN = np.array([4.4, 3.2, 2.6])
# Radius (cm) of the body around each keypoint: thenar bulk at the CMC, thinner tips.
_RADIUS = np.array(
    [2.4,
     1.75, 1.05, 0.95, 0.82,
     0.98, 0.9, 0.8, 0.7,
     1.0, 0.92, 0.82, 0.72,
     0.95, 0.86, 0.77, 0.68,
     0.85, 0.76, 0.68, 0.62]
)
# Palm outline (convex) in the palm plane; the slab is +-_PALM_HALF thick.
_PALM = np.array(
    [[-2.6, -0.3], [2.6, -0.3], [3.5, 4.0], [3.5, 7.5], [2.7, 8.5], [1.1, 9.3],
     [-0.7, 9.6], [-2.6, 9.4], [-3.4, 8.6], [-3.3, 4.5]]
)
_PALM_HALF = 1.3

# Primitive ids in the label image; 0 is background, 255 anything in front of the hand.
PALM, ARM, SLEEVE, OCCLUDER = 1, 2, 3, 255
# Capsules: (start keypoint, end keypoint); ids are 4 + index in this list.
_BONES = [(1, 2), (2, 3), (3, 4)] + [(5 + 4 * f + k, 6 + 4 * f + k) for f in range(4) for k in range(3)]
_BONE_A = np.array([a for a, _ in _BONES])
_BONE_B = np.array([b for _, b in _BONES])
_TIP_BONE = np.isin(_BONE_B, [4, 8, 12, 16, 20])


def _adjacency() -> np.ndarray:
    """adj[j, label] is True when a label belongs to a primitive touching keypoint j."""
    adj = np.zeros((NUM_KEYPOINTS, 256), dtype=bool)
    adj[0, [PALM, ARM]] = True
    adj[1, PALM] = True
    for f in range(4):
        adj[5 + 4 * f, PALM] = True
    for k, (a, b) in enumerate(_BONES):
        adj[a, 4 + k] = adj[b, 4 + k] = True
    return adj


_ADJ = _adjacency()

# Skin tones, light to dark (RGB).
_SKIN = np.array(
    [[255, 224, 200], [241, 194, 167], [224, 172, 138], [205, 145, 110],
     [176, 118, 84], [141, 90, 62], [105, 68, 48], [72, 48, 36]], dtype=np.float64
)


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator. The `size` argument of the functions is authoritative;
    `size` here is only a default for callers that build everything from a config."""

    size: int = 128
    scale_range: tuple[float, float] = (0.4, 0.9)  # hand bbox side / image side
    center_jitter: float = 0.12  # std of the hand centre offset, fraction of the side
    left_prob: float = 0.5  # share of left hands (the rest are mirrored)
    camera_distance: tuple[float, float] = (2.0, 6.0)  # in hand lengths: perspective strength
    occluder_prob: float = 0.25  # chance of an object in front of the hand
    clutter_max: int = 10  # background shapes per image
    distractor_prob: float = 0.6  # chance of skin-coloured blobs in the background
    arm_prob: float = 0.9
    blur_prob: float = 0.5
    noise_prob: float = 0.6
    photometric: bool = True  # False skips blur, colour and noise changes (for inspection)

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0.05 <= lo <= hi <= 2.0:
            raise ConfigError(f"scale_range must satisfy 0.05 <= lo <= hi <= 2, got {self.scale_range}")
        dlo, dhi = self.camera_distance
        if not 1.2 <= dlo <= dhi:
            raise ConfigError(f"camera_distance must satisfy 1.2 <= lo <= hi, got {self.camera_distance}")
        probs = (self.left_prob, self.occluder_prob, self.distractor_prob, self.arm_prob,
                 self.blur_prob, self.noise_prob)
        if not all(0.0 <= p <= 1.0 for p in probs):
            raise ConfigError("probabilities in SynthConfig must lie in [0, 1]")
        if self.center_jitter < 0 or self.clutter_max < 0:
            raise ConfigError("center_jitter and clutter_max must be >= 0")


# ---------------------------------------------------------------------------
# Pose sampling (hand frame, cm)
# ---------------------------------------------------------------------------
def _finger_curls(rng: np.random.Generator) -> np.ndarray:
    """Curl in [0, 1] of thumb + 4 fingers: open hands, fists, gestures and in-betweens."""
    mode = rng.random()
    if mode < 0.25:
        g = rng.uniform(0.0, 0.2)
    elif mode < 0.45:
        g = rng.uniform(0.65, 1.0)
    elif mode < 0.7:  # gesture: each finger either out or in
        return np.clip(np.where(rng.random(5) < 0.5, 0.05, 0.9) + rng.normal(0, 0.1, 5), 0, 1)
    else:
        g = rng.random()
    return np.clip(g + rng.normal(0.0, 0.15, 5), 0.0, 1.0)


def _fingers(rng: np.random.Generator, curl: np.ndarray, width: float) -> np.ndarray:
    """MCP, PIP, DIP, tip of index..little (16, 3); joints bend together with the curl."""
    spread = rng.uniform(0.0, 1.6) * (1.0 - 0.75 * curl)
    phi = _SPLAY * spread + rng.normal(0.0, 0.05, 4)
    u = np.stack([np.sin(phi), np.cos(phi), np.zeros(4)], axis=1)
    mcp = curl * rng.uniform(55, 90, 4) - 15.0 * (1 - curl) * rng.random(4)
    pip = curl * rng.uniform(80, 110, 4)
    dip = pip * rng.uniform(0.55, 0.85, 4)
    theta = np.radians(np.cumsum(np.stack([mcp, pip, dip], axis=1), axis=1))  # (4, 3)
    d = np.cos(theta)[..., None] * u[:, None, :]
    d[..., 2] += np.sin(theta)
    length = _PHALANX * rng.normal(1.0, 0.04, (4, 1))
    base = _MCP[:, None, :] * [width, 1.0, 1.0]
    joints = base + np.cumsum(length[..., None] * d, axis=1)
    return np.concatenate([base, joints], axis=1).reshape(16, 3)


def _thumb(rng: np.random.Generator, curl: float, width: float) -> np.ndarray:
    """CMC, MCP, IP, tip (4, 3): abducted from the palm, curling across it."""
    alpha = np.radians(rng.uniform(20, 65) - 15 * curl)
    elev = np.radians(rng.uniform(15, 45) + 20 * curl)
    d0 = np.array([-np.sin(alpha) * np.cos(elev), np.cos(alpha) * np.cos(elev), np.sin(elev)])
    b = np.array([1.0, 0.2, 0.9])
    b -= b.dot(d0) * d0
    b /= np.linalg.norm(b)
    t = np.cumsum(np.radians([curl * 25.0, curl * rng.uniform(30, 60),
                              curl * rng.uniform(50, 85) - 15 * (1 - curl) * rng.random()]))
    d = np.cos(t)[:, None] * d0 + np.sin(t)[:, None] * b
    cmc = _THUMB_CMC * [width, 1.0, 1.0]
    joints = cmc + np.cumsum((_THUMB_LEN * rng.normal(1.0, 0.04))[:, None] * d, axis=0)
    return np.vstack([cmc, joints])


def _arm_dir(rng: np.random.Generator) -> np.ndarray:
    """Forearm direction from the wrist: wrist flexion and deviation."""
    flex, dev = np.radians(rng.uniform(-45, 45)), np.radians(rng.uniform(-20, 20))
    return np.array([np.sin(dev), -np.cos(dev) * np.cos(flex), np.sin(flex) * np.cos(dev)])


def _hand_points(rng: np.random.Generator, left: bool) -> np.ndarray:
    """3D points (21 keypoints, 20 palm slab corners, arm start/end) in the hand frame."""
    curl = _finger_curls(rng)
    width = rng.uniform(0.9, 1.1)
    kp = np.zeros((NUM_KEYPOINTS, 3))
    kp[1:5] = _thumb(rng, curl[0], width)
    kp[5:] = _fingers(rng, curl[1:], width)
    palm = np.empty((20, 3))
    palm[:, :2] = np.tile(_PALM * [width, 1.0], (2, 1))
    palm[:10, 2], palm[10:, 2] = _PALM_HALF, -_PALM_HALF
    a = _arm_dir(rng)
    arm = np.stack([a * 1.2, a * 28.0])
    pts = np.concatenate([kp, palm, arm])
    if not left:
        pts[:, 0] *= -1.0
    return pts


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """Hand frame -> camera (x right, y down, z forward): any yaw about the hand's long
    axis (palm towards, sideways, away), moderate tilt, in-plane roll mostly upright."""
    yaw = rng.uniform(-np.pi, np.pi)
    pitch = np.clip(rng.normal(0.0, 0.6), -1.3, 1.3)
    roll = rng.normal(0.0, 0.6) if rng.random() < 0.6 else rng.uniform(-np.pi, np.pi)
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    base = np.diag([1.0, -1.0, -1.0])  # fingers up, palm facing the camera
    return rz @ rx @ ry @ base


# ---------------------------------------------------------------------------
# Projection and framing
# ---------------------------------------------------------------------------
@dataclass
class _View:
    """Projected hand: 2D pixel points, per-point pixel radius, depth and normals."""

    xy: np.ndarray  # (P, 2) pixel coordinates of all points
    cam: np.ndarray  # (P, 3) camera coordinates (cm)
    px_per_cm: np.ndarray  # (P,)
    rot: np.ndarray  # (3, 3)
    left: bool


def _project(rng: np.random.Generator, cfg: SynthConfig, size: int) -> _View:
    """Pinhole projection, then a 2D similarity so the hand fills scale_range of the side."""
    left = bool(rng.random() < cfg.left_prob)
    pts = _hand_points(rng, left)
    rot = _rotation(rng)
    hand_len = 19.0
    dist = hand_len * rng.uniform(*cfg.camera_distance)
    centre = pts[:NUM_KEYPOINTS].mean(axis=0)
    cam = (pts - centre) @ rot.T
    cam[:, 2] += dist
    _clip_arm(cam, dist)
    uv = cam[:, :2] / cam[:, 2:3]
    kp = uv[:NUM_KEYPOINTS]
    side = max(float((kp.max(axis=0) - kp.min(axis=0)).max()), 0.55 * hand_len / dist)
    scale = rng.uniform(*cfg.scale_range) * size / side
    mid = (kp.max(axis=0) + kp.min(axis=0)) / 2.0
    shift = np.clip(rng.normal(0.0, cfg.center_jitter, 2), -0.3, 0.3) * size
    xy = (uv - mid) * scale + size / 2.0 + shift
    return _View(xy, cam, scale / cam[:, 2], rot, left)


def _clip_arm(cam: np.ndarray, dist: float) -> None:
    """Shorten the forearm so it never comes closer than 0.35 * dist to the camera."""
    a, b = cam[-2], cam[-1]
    zmin = 0.35 * dist
    if b[2] < zmin:
        t = (zmin - a[2]) / min(b[2] - a[2], -1e-6)
        cam[-1] = a + max(t, 0.0) * (b - a)


# ---------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------
def _fix(xy: np.ndarray) -> np.ndarray:
    """Continuous pixel coords (pixel centre at j + 0.5) -> cv2 fixed-point int32."""
    return np.rint((np.asarray(xy) - 0.5) * _FP).astype(np.int32)


class _Caps:
    """Fixed-point geometry of n tapered capsules (quad between two end circles),
    computed in one vectorised pass so the draw loop only calls cv2."""

    __slots__ = ("quad", "c1", "c2", "a1", "a2")

    def __init__(self, p1: np.ndarray, p2: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> None:
        d = p2 - p1
        n = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)[:, None]
        m1, m2 = r1[:, None] * n, r2[:, None] * n
        self.quad = _fix(np.stack([p1 + m1, p2 + m2, p2 - m2, p1 - m1], axis=1))
        self.c1, self.c2 = _fix(p1).tolist(), _fix(p2).tolist()
        self.a1 = np.maximum(np.rint(r1 * _FP), 1).astype(np.int32).tolist()
        self.a2 = np.maximum(np.rint(r2 * _FP), 1).astype(np.int32).tolist()

    def draw(self, im: np.ndarray, k: int, color, line: int = _AA) -> None:
        cv2.fillConvexPoly(im, self.quad[k], color, line, _SHIFT)
        cv2.circle(im, self.c1[k], self.a1[k], color, -1, line, _SHIFT)
        cv2.circle(im, self.c2[k], self.a2[k], color, -1, line, _SHIFT)


def _skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A skin colour between the palette entries, slightly jittered in each channel."""
    t = rng.random() * (len(_SKIN) - 1)
    i = int(t)
    base = _SKIN[i] + (t - i) * (_SKIN[min(i + 1, len(_SKIN) - 1)] - _SKIN[i])
    return np.clip(base * rng.uniform(0.92, 1.08, 3), 0, 255)


def _rand_colors(rng: np.random.Generator, n: int) -> list:
    return rng.integers(0, 256, (n, 3)).astype(float).tolist()


# ---------------------------------------------------------------------------
# Background and clutter
# ---------------------------------------------------------------------------
def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth colour field (gradient or low-res noise) plus optional finer texture."""
    k = int(rng.integers(2, 7))
    base = rng.integers(0, 256, 3)
    amp = rng.uniform(20, 160)
    low = np.clip(base + rng.uniform(-amp, amp, (k, k, 3)), 0, 255).astype(np.uint8)
    img = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.6:
        kf = int(rng.integers(6, 33))
        tex = rng.integers(0, 256, (kf, kf, 3), dtype=np.uint8)
        interp = cv2.INTER_NEAREST if rng.random() < 0.3 else cv2.INTER_LINEAR
        tex = cv2.resize(tex, (size, size), interpolation=interp)
        w = rng.uniform(0.05, 0.35)
        img = cv2.addWeighted(img, 1.0 - w, tex, w, 0.0)
    return img


def _skin_distractors(rng: np.random.Generator, colors: list, kinds: np.ndarray, skin: np.ndarray
                      ) -> tuple[list, np.ndarray]:
    """Turn about half the clutter into skin-coloured blobs and finger-like sticks (some in
    the hand's own tone), so skin colour alone does not locate the hand."""
    n = len(colors)
    pick = rng.random(n) < 0.5
    same = rng.random(n) < 0.5
    tones = [(skin if same[k] else _skin_tone(rng)) * rng.uniform(0.7, 1.05) for k in range(n)]
    colors = [tones[k].tolist() if pick[k] else colors[k] for k in range(n)]
    kinds = np.where(pick, np.where(rng.random(n) < 0.7, 1, 5), kinds)
    return colors, kinds


def _clutter(rng: np.random.Generator, img: np.ndarray, n: int, skin: np.ndarray | None,
             lab: np.ndarray | None = None, near: np.ndarray | None = None) -> None:
    """Random lines, sticks, rectangles, ellipses, triangles and (if `skin`) skin-coloured
    blobs. With `near`, shapes sit near those points (occluders) and go into `lab` too."""
    size = img.shape[0]
    kinds = rng.integers(0, 6, n)
    if near is not None:
        centres = near[rng.integers(0, len(near), n)] + rng.normal(0, 0.06 * size, (n, 2))
    else:
        centres = rng.uniform(-0.1, 1.1, (n, 2)) * size
    ext = rng.uniform(0.03, 0.3, (n, 2)) * size
    angles = rng.uniform(0, 180, n)
    colors = _rand_colors(rng, n)
    if skin is not None:
        colors, kinds = _skin_distractors(rng, colors, kinds, skin)
    width = np.maximum(np.rint(rng.uniform(0.01, 0.06, n) * size), 1).astype(int).tolist()
    for k in range(n):
        c = _fix(centres[k]).tolist()
        ax = np.maximum(np.rint(ext[k] * _FP / 2), _FP).astype(int).tolist()
        _shape(img, int(kinds[k]), c, ax, float(angles[k]), colors[k], _AA, width[k])
        if lab is not None:
            _shape(lab, int(kinds[k]), c, ax, float(angles[k]), OCCLUDER, cv2.LINE_8, width[k])


def _shape(im: np.ndarray, kind: int, c: list, ax: list, angle: float, col, line: int, width: int) -> None:
    """One clutter shape at fixed-point centre `c` with fixed-point half extents `ax`."""
    if kind in (0, 5):  # thin line, or a thick round-capped stick
        t = np.radians(angle)
        d = [int(ax[0] * 2 * np.cos(t)), int(ax[0] * 2 * np.sin(t))]
        thick = width if kind == 5 else max(1, width // 3)
        cv2.line(im, (c[0] - d[0], c[1] - d[1]), (c[0] + d[0], c[1] + d[1]), col, thick, line, _SHIFT)
    elif kind == 1:
        cv2.ellipse(im, c, ax, angle, 0, 360, col, -1, line, _SHIFT)
    elif kind == 2:
        x0, y0, x1, y1 = c[0] - ax[0], c[1] - ax[1], c[0] + ax[0], c[1] + ax[1]
        cv2.fillConvexPoly(im, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.int32), col, line, _SHIFT)
    elif kind == 3:
        t = np.radians(angle) + np.array([0.0, 2.2, 4.1])
        pts = np.stack([c[0] + ax[0] * np.cos(t), c[1] + ax[1] * np.sin(t)], 1).astype(np.int32)
        cv2.fillConvexPoly(im, pts, col, line, _SHIFT)
    else:
        cv2.circle(im, c, ax[0], col, -1, line, _SHIFT)


# ---------------------------------------------------------------------------
# Hand painting
# ---------------------------------------------------------------------------
def _bone_ends(view: _View, radius: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pixel end points and radii of the 15 bone capsules. Fingertip keypoints lie on the
    skin edge, so the end circle of a distal phalanx is pulled inside by 0.6 r."""
    kp = view.xy[:NUM_KEYPOINTS]
    rad = radius * view.px_per_cm[:NUM_KEYPOINTS]
    p1, p2, r1, r2 = kp[_BONE_A], kp[_BONE_B].copy(), rad[_BONE_A], rad[_BONE_B]
    d = p2[_TIP_BONE] - p1[_TIP_BONE]
    ln = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)[:, None]
    p2[_TIP_BONE] -= d / ln * np.minimum(0.6 * r2[_TIP_BONE, None], 0.5 * ln)
    return p1, p2, r1, r2


def _bone_colors(view: _View, skin: np.ndarray, light: np.ndarray, amb: float) -> tuple[list, list]:
    """Cylinder-like Lambert brightness from each bone's 3D direction, plus highlights."""
    d = view.cam[_BONE_B] - view.cam[_BONE_A]
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
    shade = amb + (1.0 - amb) * np.sqrt(np.clip(1.0 - (d @ light) ** 2, 0.0, 1.0))
    cols = skin[None, :] * shade[:, None]
    return cols.tolist(), np.minimum(cols * 1.12 + 6, 255).tolist()


def _palm_color(view: _View, skin: np.ndarray, light: np.ndarray, amb: float) -> list:
    """Lambert shading of the visible palm face; the palmar side is a little lighter."""
    normal = view.rot[:, 2]  # palm-side normal in camera coordinates
    if normal[2] < 0:  # palm faces the camera
        skin = np.minimum(skin * 1.1 + 12, 255)
    else:
        normal = -normal
    # Half-Lambert: a real palm is curved, so even a grazing view is never black.
    return (skin * (amb + (1.0 - amb) * (0.4 + 0.6 * max(float(normal @ light), 0.0)))).tolist()


def _light(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Unit direction towards a light near the camera, and the ambient share."""
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), -1.0])
    return light / np.linalg.norm(light), float(rng.uniform(0.45, 0.7))


def _arm_caps(rng: np.random.Generator, view: _View, skin: np.ndarray, shade: float) -> list:
    """Forearm capsule, optionally ending in a sleeve: (caps, index, colour, label)."""
    a, b = view.xy[41:42], view.xy[42:43]
    ra, rb = 2.4 * view.px_per_cm[41:42], 3.0 * view.px_per_cm[42:43]
    col = (skin * shade).tolist()
    if rng.random() < 0.5:
        return [(_Caps(a, b, ra, rb), 0, col, ARM)]
    m = a + (b - a) * rng.uniform(0.35, 0.8)
    caps = _Caps(np.concatenate([a, m]), np.concatenate([m, b]), np.concatenate([ra, ra * 1.25]),
                 np.concatenate([ra, rb * 1.25]))
    return [(caps, 0, col, ARM), (caps, 1, _rand_colors(rng, 1)[0], SLEEVE)]


def _paint_hand(rng: np.random.Generator, img: np.ndarray, lab: np.ndarray, view: _View, cfg: SynthConfig,
                skin: np.ndarray) -> np.ndarray:
    """Paint palm slab, forearm and phalanges far-to-near (by mean depth of each primitive)
    into `img` and their ids into `lab`. Returns the keypoint anchors for visibility."""
    light, amb = _light(rng)
    p1, p2, r1, r2 = _bone_ends(view, _RADIUS * rng.uniform(0.82, 1.0))
    caps = _Caps(p1, p2, r1, r2)
    off = light[:2] * 0.3
    cores = _Caps(p1 + off * r1[:, None], p2 + off * r2[:, None], r1 * 0.45, r2 * 0.45)
    cols, highs = _bone_colors(view, skin, light, amb)
    z = view.cam[:, 2]
    prims = [(z[a] + z[b], 0, k) for k, (a, b) in enumerate(_BONES)]
    prims.append((2.0 * float(z[21:41].mean()), 1, 0))
    if rng.random() < cfg.arm_prob:
        prims.append((float(z[41] + z[42]), 2, 0))
    arm = _arm_caps(rng, view, skin, amb + (1.0 - amb) * 0.8)
    for _, kind, k in sorted(prims, key=lambda t: -t[0]):
        if kind == 0:
            caps.draw(img, k, cols[k])
            caps.draw(lab, k, 4 + k, cv2.LINE_8)
            cores.draw(img, k, highs[k])
        elif kind == 1:
            hull = cv2.convexHull(_fix(view.xy[21:41]))
            cv2.fillConvexPoly(img, hull, _palm_color(view, skin, light, amb), _AA, _SHIFT)
            cv2.fillConvexPoly(lab, hull, PALM, cv2.LINE_8, _SHIFT)
        else:
            for c, i, col, lid in arm:
                c.draw(img, i, col)
                c.draw(lab, i, lid, cv2.LINE_8)
    anchors = view.xy[:NUM_KEYPOINTS].copy()
    anchors[_BONE_B] = p2
    return anchors


def _outline(img: np.ndarray, lab: np.ndarray, strength: float) -> None:
    """Darken one-pixel borders between label regions: contours around and between fingers."""
    edge = cv2.compare(cv2.dilate(lab, np.ones((3, 3), np.uint8)), lab, cv2.CMP_NE)
    cv2.copyTo(cv2.convertScaleAbs(img, alpha=strength), edge, img)


# ---------------------------------------------------------------------------
# Photometric changes
# ---------------------------------------------------------------------------
_NOISE: dict[int, np.ndarray] = {}


def _noise_table(size: int) -> np.ndarray:
    """A fixed int16 Gaussian noise field (std 64); images use random crops of it.
    Its content depends only on `size`, so determinism is kept and it is cheap."""
    tab = _NOISE.get(size)
    if tab is None:
        tab = (np.random.default_rng(1234567).standard_normal((size + 64, size + 64, 3)) * 64).astype(np.int16)
        _NOISE[size] = tab
    return tab


def _photometric(rng: np.random.Generator, img: np.ndarray, cfg: SynthConfig) -> np.ndarray:
    """Gaussian blur, per-channel gain (white balance), contrast, brightness, pixel noise."""
    size = img.shape[0]
    if rng.random() < cfg.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.3) * size / 128.0)
    contrast = rng.uniform(0.6, 1.3)
    gain = contrast * rng.uniform(0.85, 1.15, 3)
    bias = rng.uniform(-40, 40) + 128 * (1 - contrast)
    m = np.zeros((3, 4), np.float32)
    m[[0, 1, 2], [0, 1, 2]] = gain
    m[:, 3] = bias
    img = cv2.transform(img, m)
    if rng.random() < cfg.noise_prob:
        ox, oy = rng.integers(0, 64, 2)
        tab = _noise_table(size)[oy:oy + size, ox:ox + size]
        img = cv2.addWeighted(img, 1.0, tab, rng.uniform(1.0, 12.0) / 64.0, 0.0, dtype=cv2.CV_8U)
    return img


# ---------------------------------------------------------------------------
# One image
# ---------------------------------------------------------------------------
def _visibility(kp: np.ndarray, anchors: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """2 when the label under a keypoint's drawn anchor touches it, 1 if covered, 0 outside."""
    size = lab.shape[0]
    inside = np.all((kp >= 0) & (kp < size), axis=1)
    ij = np.clip(np.floor(anchors).astype(int), 0, size - 1)
    labels = lab[ij[:, 1], ij[:, 0]]
    vis = np.where(_ADJ[np.arange(NUM_KEYPOINTS), labels], 2, 1).astype(np.uint8)
    vis[~inside] = 0
    return vis


def _render_one(seed: int, index: int, size: int, cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image `index` of the stream for `seed`: HWC RGB uint8, keypoints, visibility."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))
    img = _background(rng, size)
    n_clutter = int(rng.integers(0, cfg.clutter_max + 1))
    skin_distract = rng.random() < cfg.distractor_prob
    view = _project(rng, cfg, size)
    lab = np.zeros((size, size), np.uint8)
    hand_skin = _skin_tone(rng)
    if n_clutter:
        _clutter(rng, img, n_clutter, hand_skin if skin_distract else None)
    anchors = _paint_hand(rng, img, lab, view, cfg, hand_skin)
    kp = view.xy[:NUM_KEYPOINTS]
    if rng.random() < cfg.occluder_prob:
        _clutter(rng, img, int(rng.integers(1, 3)), None, lab, near=kp)
    _outline(img, lab, rng.uniform(0.6, 0.9))
    vis = _visibility(kp, anchors, lab)
    if cfg.photometric:
        img = _photometric(rng, img, cfg)
    return img, kp.astype(np.float32), vis


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    """An integer argument within [lo, hi]; bools and floats are rejected as likely mistakes."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < lo or (hi is not None and value > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ConfigError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def render_batch(count: int, size: int, seed: int, start: int = 0, config: SynthConfig | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render images start..start+count-1 of the stream for `seed`.

    Returns images uint8 (N, 3, H, W) RGB, keypoints float32 (N, 21, 2) in input pixels
    (x, y; pixel column j spans [j, j+1)), visibility uint8 (N, 21): 2 visible,
    1 inside the image but occluded, 0 outside the image.
    """
    count, size = check_int("count", count, 0), check_int("size", size, MIN_SIZE, MAX_SIZE)
    seed, start = check_int("seed", seed, 0), check_int("start", start, 0)
    cfg = config or SynthConfig()
    images = np.empty((count, 3, size, size), np.uint8)
    kps = np.empty((count, NUM_KEYPOINTS, 2), np.float32)
    vis = np.empty((count, NUM_KEYPOINTS), np.uint8)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # per-image work is tiny; thread start-up would dominate
    try:
        for n in range(count):
            img, kps[n], vis[n] = _render_one(seed, start + n, size, cfg)
            images[n] = img.transpose(2, 0, 1)
    finally:
        cv2.setNumThreads(threads)
    return images, kps, vis
