"""Image payload decoding/encoding and CameraInfo parsing (real OpenCV codecs, real bytes)."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.images import (
    camera_from_camera_info,
    decode_compressed,
    decode_compressed_depth,
    decode_image,
    encode_compressed,
    encode_image,
)

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)


def _padded(pixels: np.ndarray, pad: int) -> tuple[int, bytes]:
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    return padded.shape[1], padded.tobytes()


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_round_trip_with_row_padding(encoding):
    step, data = encode_image(RGB, encoding)
    assert np.array_equal(decode_image(encoding, 7, 5, step, data), RGB)
    channels = 3 if encoding in ("rgb8", "bgr8") else 4
    pixels = np.frombuffer(data, np.uint8).reshape(7, 5, channels)
    step, data = _padded(pixels, 3)
    decoded = decode_image(encoding, 7, 5, step, data)
    assert np.array_equal(decoded, RGB)
    decoded[0, 0] = 0  # writeable copy, not a view into the message
    assert decoded.flags.c_contiguous


def test_mono8_becomes_grey_rgb():
    grey = RNG.integers(0, 256, size=(4, 6), dtype=np.uint8)
    step, data = _padded(grey, 2)
    rgb = decode_image("mono8", 4, 6, step, data)
    assert rgb.shape == (4, 6, 3) and all(np.array_equal(rgb[:, :, c], grey) for c in range(3))


def test_depth_16uc1_and_32fc1():
    mm = np.array([[0, 1000, 1234], [65535, 500, 2]], dtype=np.uint16)
    step, data = _padded(mm.astype("<u2"), 4)
    depth = decode_image("16UC1", 2, 3, step, data)
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, [[0, 1.0, 1.234], [0, 0.5, 0.002]], atol=1e-7)
    big = decode_image("16UC1", 2, 3, 6, mm.astype(">u2").tobytes(), is_bigendian=1)
    np.testing.assert_array_equal(big, decode_image("16UC1", 2, 3, 6, mm.tobytes()))
    metres = np.array([[np.nan, 1.5, -1.0], [np.inf, 0.25, 0.0]], dtype=np.float32)
    step, data = encode_image(metres, "32FC1")
    np.testing.assert_array_equal(
        decode_image("32FC1", 2, 3, step, data), [[0, 1.5, 0], [0, 0.25, 0]]
    )
    step, data = encode_image(np.array([[1.2344, np.nan]]), "16UC1")
    assert step == 4 and np.frombuffer(data, "<u2").tolist() == [1234, 0]


def test_bad_payloads_name_the_problem():
    with pytest.raises(ScrLocalizerError, match="unsupported image encoding 'bayer_rggb8'.*rgb8"):
        decode_image("bayer_rggb8", 2, 2, 2, b"\0" * 4)
    with pytest.raises(ScrLocalizerError, match="needs at least 12 bytes"):
        decode_image("rgb8", 2, 2, 6, b"\0" * 11)


def test_compressed_colour_and_depth():
    image = cv2.resize(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8), (64, 48))
    png = encode_compressed(image, "png")
    assert np.array_equal(decode_compressed("rgb8; png compressed bgr8", png), image)
    jpeg = decode_compressed("jpeg", encode_compressed(image, "jpeg", 95))
    assert np.abs(jpeg.astype(int) - image).mean() < 3
    with pytest.raises(ScrLocalizerError, match="cannot decode CompressedImage"):
        decode_compressed("jpeg", b"not an image")

    mm = RNG.integers(0, 5000, (6, 9), dtype=np.uint16)
    ok, png16 = cv2.imencode(".png", mm)
    header = struct.pack("<iff", 0, 0.0, 0.0)
    depth = decode_compressed_depth("16UC1; compressedDepth png", header + png16.tobytes())
    np.testing.assert_allclose(depth, mm * 0.001, atol=1e-6)
    # 32FC1: quantized inverse depth, depth = A / (q - B)
    quant_a, quant_b = 100.0, 10.0
    metres = np.array([[0.5, 1.0], [2.0, 0.0]], dtype=np.float32)
    q = np.where(metres > 0, quant_a / np.where(metres > 0, metres, 1) + quant_b, 0)
    ok, png16 = cv2.imencode(".png", np.rint(q).astype(np.uint16))
    depth = decode_compressed_depth(
        "32FC1; compressedDepth png", struct.pack("<iff", 0, quant_a, quant_b) + png16.tobytes()
    )
    np.testing.assert_allclose(depth, metres, atol=1e-6)
    with pytest.raises(ScrLocalizerError, match="RVL.*not supported"):
        decode_compressed_depth("16UC1; compressedDepth rvl", b"\0" * 20)


def _camera_info(**overrides):
    fields = dict(
        header=SimpleNamespace(frame_id="camera_color_optical_frame"),
        width=640, height=480, distortion_model="plumb_bob",
        d=[0.1, -0.2, 0.001, 0.002, 0.05],
        k=[600.0, 0, 321.5, 0, 602.0, 239.5, 0, 0, 1],
        p=[590.0, 0, 320.0, 0, 0, 591.0, 240.0, 0, 0, 0, 1, 0],
        binning_x=0, binning_y=0,
    )
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_camera_from_camera_info_keeps_full_intrinsics():
    camera = camera_from_camera_info(_camera_info())
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (600.0, 602.0, 321.5, 239.5)
    assert camera.distortion_model == "plumb_bob" and camera.is_distorted
    assert camera.distortion == (0.1, -0.2, 0.001, 0.002, 0.05)
    rational = camera_from_camera_info(
        _camera_info(distortion_model="rational_polynomial", d=[0.1] * 8)
    )
    assert len(rational.distortion) == 8
    rect = camera_from_camera_info(_camera_info(), rectified=True)
    assert (rect.fx, rect.fy, rect.cx, rect.cy, rect.is_distorted) == (590, 591, 320, 240, False)
    binned = camera_from_camera_info(_camera_info(binning_x=2, binning_y=2))
    assert (binned.width, binned.height, binned.fx) == (320, 240, 300.0)


def test_camera_info_errors():
    with pytest.raises(ScrLocalizerError, match="uncalibrated"):
        camera_from_camera_info(_camera_info(k=[0.0] * 9, p=[0.0] * 12))
    with pytest.raises(ScrLocalizerError, match="distortion model 'fisheye62'"):
        camera_from_camera_info(_camera_info(distortion_model="fisheye62"))
