"""sensor_msgs image payloads <-> numpy, without cv_bridge (not available on pip-only setups).

Colour always comes out as HxWx3 uint8 RGB; depth as HxW float32 metres with 0 = invalid,
because that is what `RGBDFrame` carries. Functions take plain fields (or duck-typed messages)
so they work for rosbags messages and rclpy messages alike.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.geometry.camera import SUPPORTED_DISTORTION_MODELS, PinholeCamera

# encoding -> (channels, numpy dtype of one channel)
_LAYOUTS: dict[str, tuple[int, str]] = {
    "rgb8": (3, "u1"),
    "bgr8": (3, "u1"),
    "rgba8": (4, "u1"),
    "bgra8": (4, "u1"),
    "mono8": (1, "u1"),
    "8UC1": (1, "u1"),
    "8UC3": (3, "u1"),
    "rgb16": (3, "u2"),
    "bgr16": (3, "u2"),
    "mono16": (1, "u2"),
    "16UC1": (1, "u2"),
    "32FC1": (1, "f4"),
    "yuv422": (2, "u1"),
    "uyvy": (2, "u1"),
    "yuv422_yuy2": (2, "u1"),
    "yuyv": (2, "u1"),
}
COLOR_ENCODINGS = (
    "rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC3", "rgb16", "bgr16",
    "yuv422", "uyvy", "yuv422_yuy2", "yuyv",
)
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
# Depth beyond this is treated as invalid (sensor saturation values such as 65535 mm).
MAX_DEPTH_M = 20.0


def is_depth_encoding(encoding: str) -> bool:
    return encoding in DEPTH_ENCODINGS


def _pixels(encoding, height, width, step, data, is_bigendian) -> np.ndarray:
    """Rows of the payload as an HxWxC array of the encoding's dtype, row padding removed."""
    if encoding not in _LAYOUTS:
        raise ScrLocalizerError(
            f"unsupported image encoding '{encoding}'; expected one of "
            f"{', '.join(COLOR_ENCODINGS + DEPTH_ENCODINGS)}"
        )
    channels, kind = _LAYOUTS[encoding]
    height, width, step = int(height), int(width), int(step)
    itemsize = np.dtype(kind).itemsize
    row_bytes = width * channels * itemsize
    if step == 0:
        step = row_bytes
    if height <= 0 or width <= 0:
        raise ScrLocalizerError(
            f"{encoding} image is {width}x{height}; expected a positive width and height"
        )
    buffer = np.frombuffer(data, dtype=np.uint8)
    if height <= 0 or width <= 0 or step < row_bytes or buffer.size < step * height:
        raise ScrLocalizerError(
            f"{encoding} image {width}x{height} with step {step} needs at least "
            f"{row_bytes * height} bytes (rows of >= {row_bytes} bytes) but has {buffer.size}"
        )
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    dtype = np.dtype(kind).newbyteorder(">" if is_bigendian else "<")
    if itemsize > 1 or step != row_bytes:
        rows = np.ascontiguousarray(rows)
    return rows.view(dtype).reshape(height, width, channels)


def decode_image(
    encoding: str, height: int, width: int, step: int, data, is_bigendian: int = 0
) -> np.ndarray:
    """A sensor_msgs/Image payload as RGB uint8 (colour encodings) or float32 metres (depth)."""
    pixels = _pixels(encoding, height, width, step, data, is_bigendian)
    if encoding in ("16UC1", "mono16"):
        depth = pixels[:, :, 0].astype(np.float32) * np.float32(0.001)
        depth[depth > MAX_DEPTH_M] = 0.0
        return depth
    if encoding == "32FC1":
        depth = pixels[:, :, 0].astype(np.float32)
        depth[~np.isfinite(depth) | (depth < 0) | (depth > MAX_DEPTH_M)] = 0.0
        return depth
    if encoding in ("rgb16", "bgr16"):
        pixels = (pixels >> 8).astype(np.uint8)
    if encoding in ("rgb8", "rgb16"):
        return np.array(pixels, dtype=np.uint8, order="C", copy=True)
    if encoding in ("bgr8", "8UC3", "bgr16"):
        return np.ascontiguousarray(pixels[:, :, ::-1], dtype=np.uint8)
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    if encoding in ("mono8", "8UC1"):
        return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, 0]), cv2.COLOR_GRAY2RGB)
    if encoding in ("yuv422", "uyvy"):
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_YUV2RGB_UYVY)
    if encoding in ("yuv422_yuy2", "yuyv"):
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_YUV2RGB_YUY2)
    raise ScrLocalizerError(f"unsupported image encoding '{encoding}'")  # pragma: no cover


def _imdecode(data, what: str) -> np.ndarray:
    buffer = np.frombuffer(bytes(data) if isinstance(data, list) else data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if image is None:
        raise ScrLocalizerError(f"cannot decode {what} ({buffer.size} bytes); expected jpeg or png data")
    return image


def decode_compressed(format: str, data) -> np.ndarray:  # noqa: A002 - the message field's name
    """A sensor_msgs/CompressedImage (jpeg/png, image_transport 'compressed') as RGB uint8.

    image_transport compresses colour as bgr8 whatever the source encoding was, and OpenCV
    decodes to BGR, so the result is converted to RGB here.
    """
    fmt = (format or "").lower()
    if "compresseddepth" in fmt:
        raise ScrLocalizerError(
            f"CompressedImage format '{format}' is compressed depth; expected a colour image "
            "(jpeg or png)"
        )
    image = _imdecode(data, f"CompressedImage with format '{format}'")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if "rgb8; " in fmt and "compressed rgb8" in fmt:  # some encoders keep RGB order
        return np.ascontiguousarray(image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# compressed_depth_image_transport prefixes the PNG with a ConfigHeader:
# int32 compression format, float32 depthQuantA, float32 depthQuantB.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CONFIG_HEADER_BYTES = 12


def decode_compressed_depth(format: str, data) -> np.ndarray:  # noqa: A002
    """A 'compressedDepth' CompressedImage (PNG) as float32 metres, 0 = invalid.

    16UC1 streams hold millimetres; 32FC1 streams hold quantized inverse depth that is undone
    with the header's two parameters (depth = A / (q - B)).
    """
    raw = bytes(data)
    fmt = (format or "").lower()
    if "rvl" in fmt:
        raise ScrLocalizerError(
            f"compressedDepth format '{format}' (RVL) is not supported; expected png "
            "(republish with compressed_depth_image_transport's format:=png)"
        )
    if raw[:8] == _PNG_SIGNATURE:
        header, payload = None, raw
    elif raw[_CONFIG_HEADER_BYTES : _CONFIG_HEADER_BYTES + 8] == _PNG_SIGNATURE:
        header, payload = raw[:_CONFIG_HEADER_BYTES], raw[_CONFIG_HEADER_BYTES:]
    else:
        raise ScrLocalizerError(
            f"compressedDepth image with format '{format}' holds no PNG data; expected "
            "compressed_depth_image_transport png"
        )
    image = _imdecode(payload, f"compressedDepth image with format '{format}'")
    if image.ndim != 2 or image.dtype != np.uint16:
        raise ScrLocalizerError(
            f"compressedDepth PNG is {image.dtype} with shape {image.shape}; expected one "
            "16-bit channel"
        )
    if "32fc1" in fmt:
        if header is None:
            raise ScrLocalizerError(
                f"compressedDepth format '{format}' lacks the quantization header"
            )
        quant_a, quant_b = np.frombuffer(header[4:12], dtype="<f4")
        q = image.astype(np.float32)
        depth = np.zeros_like(q)
        valid = q > 0
        depth[valid] = quant_a / (q[valid] - quant_b)
        depth[~np.isfinite(depth) | (depth < 0) | (depth > MAX_DEPTH_M)] = 0.0
        return depth
    depth = image.astype(np.float32) * np.float32(0.001)
    depth[depth > MAX_DEPTH_M] = 0.0
    return depth


def encode_image(array: np.ndarray, encoding: str) -> tuple[int, bytes]:
    """(step, data) of a sensor_msgs/Image for `array`.

    Colour input is HxWx3 uint8 RGB (or HxW for mono8); depth input is float metres (or uint16
    millimetres already) for 16UC1, float metres for 32FC1.
    """
    array = np.asarray(array)
    if encoding == "rgb8":
        pixels = _expect(array, 3, encoding).astype(np.uint8, copy=False)
    elif encoding == "bgr8":
        pixels = _expect(array, 3, encoding)[:, :, ::-1].astype(np.uint8, copy=False)
    elif encoding == "rgba8":
        rgb = _expect(array, 3, encoding).astype(np.uint8, copy=False)
        pixels = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    elif encoding == "bgra8":
        rgb = _expect(array, 3, encoding).astype(np.uint8, copy=False)
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        pixels = np.concatenate([rgb[:, :, ::-1], alpha], axis=2)
    elif encoding in ("mono8", "8UC1"):
        if array.ndim == 3:
            array = cv2.cvtColor(array.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        pixels = array.astype(np.uint8, copy=False)
    elif encoding in ("16UC1", "mono16"):
        if array.dtype == np.uint16:
            pixels = array
        else:
            metres = np.nan_to_num(np.asarray(array, dtype=np.float64), nan=0.0, posinf=0.0)
            pixels = np.clip(np.rint(metres * 1000.0), 0, 65535).astype("<u2")
    elif encoding == "32FC1":
        pixels = np.asarray(array, dtype="<f4")
    else:
        raise ScrLocalizerError(
            f"cannot encode images as '{encoding}'; expected one of rgb8, bgr8, rgba8, bgra8, "
            "mono8, 16UC1, 32FC1"
        )
    pixels = np.ascontiguousarray(pixels)
    step = pixels.shape[1] * (pixels.shape[2] if pixels.ndim == 3 else 1) * pixels.itemsize
    return int(step), pixels.tobytes()


def _expect(array: np.ndarray, channels: int, encoding: str) -> np.ndarray:
    if array.ndim != 3 or array.shape[2] != channels:
        raise ScrLocalizerError(
            f"cannot encode an array of shape {array.shape} as {encoding}; expected HxWx{channels}"
        )
    return array


def encode_compressed(rgb: np.ndarray, format: str = "jpeg", quality: int = 95) -> bytes:  # noqa: A002
    """RGB uint8 -> jpeg/png bytes as image_transport 'compressed' would store them (bgr8)."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    ext = ".png" if format == "png" else ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext == ".jpg" else []
    ok, buffer = cv2.imencode(ext, bgr, params)
    if not ok:  # pragma: no cover - OpenCV failure
        raise ScrLocalizerError(f"cannot encode image as {format}")
    return buffer.tobytes()


def encode_compressed_depth(depth_m: np.ndarray) -> bytes:
    """Depth in metres -> a 'compressedDepth' payload as compressed_depth_image_transport writes
    it for 16UC1 streams: the 12-byte ConfigHeader (format 0 = PNG, no quantization) and a
    16-bit PNG of millimetres."""
    _, data = encode_image(depth_m, "16UC1")
    millimetres = np.frombuffer(data, dtype="<u2").reshape(np.asarray(depth_m).shape[:2])
    ok, buffer = cv2.imencode(".png", millimetres)
    if not ok:  # pragma: no cover - OpenCV failure
        raise ScrLocalizerError("cannot encode depth as PNG")
    return struct.pack("<iff", 0, 0.0, 0.0) + buffer.tobytes()


def _field(msg, *names):
    for name in names:
        if hasattr(msg, name):
            return getattr(msg, name)
    raise ScrLocalizerError(
        f"{type(msg).__name__} has no field {names[0]}; expected a sensor_msgs/CameraInfo"
    )


def camera_from_camera_info(msg, rectified: bool = False) -> PinholeCamera:
    """PinholeCamera from a sensor_msgs/CameraInfo (ROS 2 lower-case or ROS 1 upper-case fields).

    K and D describe the raw image. For an already rectified image (`rectified=True`, e.g. an
    image_rect topic) the projection matrix P is the right camera and there is no distortion.
    Binning is applied so the camera matches the published image size.
    """
    width, height = int(_field(msg, "width")), int(_field(msg, "height"))
    k = np.asarray(_field(msg, "k", "K"), dtype=np.float64).reshape(-1)
    p = np.asarray(_field(msg, "p", "P"), dtype=np.float64).reshape(-1)
    d = tuple(float(v) for v in np.asarray(_field(msg, "d", "D"), dtype=np.float64).reshape(-1))
    model = str(_field(msg, "distortion_model") or "")
    frame = getattr(getattr(msg, "header", None), "frame_id", "")
    if k.size != 9 or p.size != 12:
        raise ScrLocalizerError(
            f"CameraInfo of '{frame}' has K with {k.size} and P with {p.size} values; "
            "expected 9 and 12"
        )
    if rectified or (k[0] <= 0 and p[0] > 0):
        fx, fy, cx, cy = p[0], p[5], p[2], p[6]
        model, d = "", ()
    else:
        fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if not np.all(np.isfinite([fx, fy, cx, cy])) or not np.all(np.isfinite(d)):
        raise ScrLocalizerError(
            f"CameraInfo of '{frame}' has non-finite calibration (fx={fx}, fy={fy}, cx={cx}, "
            f"cy={cy}, D={list(d)}); expected finite numbers with fx, fy > 0"
        )
    if fx <= 0 or fy <= 0:
        raise ScrLocalizerError(
            f"CameraInfo of '{frame}' is uncalibrated (fx={fx}, fy={fy}); expected positive "
            "focal lengths in K or P"
        )
    if not any(d):
        model, d = "", ()  # all-zero coefficients: an ideal pinhole, whatever the model says
    if model not in SUPPORTED_DISTORTION_MODELS:
        raise ScrLocalizerError(
            f"CameraInfo of '{frame}' uses distortion model '{model}'; expected one of "
            f"{', '.join(m for m in SUPPORTED_DISTORTION_MODELS if m)}"
        )
    if width <= 0 or height <= 0:
        raise ScrLocalizerError(
            f"CameraInfo of '{frame}' has image size {width}x{height}; expected a positive size"
        )
    camera = PinholeCamera(width, height, float(fx), float(fy), float(cx), float(cy), model, d)
    bin_x = int(getattr(msg, "binning_x", 0) or 0)
    bin_y = int(getattr(msg, "binning_y", 0) or 0)
    if bin_x > 1 or bin_y > 1:
        bx, by = max(bin_x, 1), max(bin_y, 1)
        camera = PinholeCamera(
            width // bx, height // by, camera.fx / bx, camera.fy / by,
            (camera.cx + 0.5) / bx - 0.5, (camera.cy + 0.5) / by - 0.5, model, d,
        )
    return camera
