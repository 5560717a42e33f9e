"""Decode and encode video in-process with PyAV, frames as yuv420p planes.

Frames stay in the codec's own pixel format: a stage edits the Y, U and V planes
in place (numpy views over the decoder's buffers) and hands the same frame to
the encoder. No BGR round trip, no pipe copies: the overhead of a Python frame
loop over a bare re-encode is a few percent (see bench/).

Example::

    info = probe(src)
    with FrameReader(src, info) as reader, FrameWriter(
        dst, reader.width, reader.height, reader.fps, profile, audio_template=reader.audio
    ) as writer:
        for frame in reader.frames(on_audio=writer.mux_audio):
            frame.y[:] //= 2
            writer.write(frame)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from pipeline.core.errors import EncoderCrashed, InvalidMedia
from pipeline.core.settings import EncodeProfile
from pipeline.core.usage import adopting_threads, sample_threads
from pipeline.media.codec import AUDIO_CODEC, PIX_FMT, VIDEO_CODEC, aac_copyable, aac_rate, even
from pipeline.media.encoders import encoder_options
from pipeline.media.frame_size import check_frame_size, decoder_pixel_cap, size_changed
from pipeline.media.probe import VideoInfo
from pipeline.media.untrusted_input import pyav_open_args


def plane_view(plane: Any, width: int, height: int) -> np.ndarray:
    """A writable (height, width) uint8 view of one frame plane (line padding skipped)."""
    buffer = np.frombuffer(plane, dtype=np.uint8)
    return buffer.reshape(plane.height, plane.line_size)[:height, :width]


@dataclass
class YuvFrame:
    """One decoded frame: writable plane views plus the frame to encode."""

    index: int
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    av_frame: Any

    @classmethod
    def wrap(cls, index: int, frame: Any) -> YuvFrame:
        """Views over an existing yuv420p frame."""
        w, h = frame.width, frame.height
        return cls(
            index,
            plane_view(frame.planes[0], w, h),
            plane_view(frame.planes[1], w // 2, h // 2),
            plane_view(frame.planes[2], w // 2, h // 2),
            frame,
        )

    @classmethod
    def from_planes(
        cls, index: int, y: np.ndarray, u: np.ndarray, v: np.ndarray, template: Any = None
    ) -> YuvFrame:
        """A new frame holding copies of ``y``, ``u``, ``v`` (timing from ``template``)."""
        frame = av.VideoFrame(y.shape[1], y.shape[0], PIX_FMT)
        if template is not None and template.time_base is not None:
            frame.pts = template.pts
            frame.time_base = template.time_base
        wrapped = cls.wrap(index, frame)
        wrapped.y[:] = y
        wrapped.u[:] = u
        wrapped.v[:] = v
        return wrapped


def check_complete(decoded: int, expected: int) -> None:
    """InvalidMedia when far fewer frames decode than the container promises."""
    if decoded < expected * 0.95 and expected - decoded > 2:
        raise InvalidMedia(
            f"the clip's data ends early ({decoded} of {expected} frames decoded): "
            "the upload is truncated or corrupt"
        )


def frame_budget(expected: int) -> int:
    """How many frames a decode of a clip promising ``expected`` may yield before it is
    stopped: the limits were checked on that count (``VideoInfo.decoded_frames``), so a
    stream that holds far more (a rate that speeds up after the frames the probe looked
    at) would cost what no limit allowed. A quarter more, and a few, covers honest
    variable-rate clips."""
    return expected + expected // 4 + 30


def check_within_budget(decoded: int, expected: int) -> None:
    """InvalidMedia once ``decoded`` frames pass :func:`frame_budget` of ``expected``."""
    if decoded > frame_budget(expected):
        raise InvalidMedia(
            f"the clip holds more frames than it declares (over {decoded} where its header "
            f"promises {expected}): its header is wrong; re-encode it and upload it again"
        )


def split_i420(
    i420: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V views of a packed I420 buffer (as cv2's ``COLOR_*2YUV_I420`` writes it)."""
    flat = i420.reshape(-1)
    luma, chroma = width * height, (width // 2) * (height // 2)
    return (
        flat[:luma].reshape(height, width),
        flat[luma : luma + chroma].reshape(height // 2, width // 2),
        flat[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2),
    )


class FrameReader:
    """Decodes a clip into upright, even-sized yuv420p frames.

    Rotated sources are turned upright; odd-sized or non-4:2:0 sources are
    converted (odd sizes lose their last row/column by a 1-pixel rescale).
    Audio packets are handed, undecoded, to ``on_audio`` for remuxing.

    A reader whose frames are only read (``writable=False``: a detect pass looks at
    each picture and scales a small copy of it) hands out the decoder's own pictures:
    no copy of each one, which on a 1080p clip costs a tenth of its decode.
    """

    def __init__(self, path: Path, info: VideoInfo, *, writable: bool = True) -> None:
        try:
            target, options = pyav_open_args(path)
            self._container = av.open(target, container_options=options)
        except av.FFmpegError as exc:
            raise InvalidMedia(f"the clip is not a readable video: {exc}") from exc
        self.info = info
        self.video = self._container.streams.video[0]
        self.video.thread_type = "AUTO"
        # A picture larger than the probed one is refused before it is allocated.
        self.video.codec_context.options = {"max_pixels": str(decoder_pixel_cap(info))}
        with adopting_threads():  # the decoder's threads work for the job reading it
            self._open_decoder()
        self.audio = self._container.streams.audio[0] if self._container.streams.audio else None
        self.width = even(info.display_width)
        self.height = even(info.display_height)
        self.fps: Fraction = info.fps
        self.time_base: Fraction = self.video.time_base or Fraction(1, 90_000)
        self._turns = (-info.rotation // 90) % 4  # np.rot90 turns counter-clockwise
        self._writable = writable

    def _open_decoder(self) -> None:
        try:
            self.video.codec_context.open(strict=False)
        except av.FFmpegError as exc:
            self._container.close()
            raise InvalidMedia(f"the clip's video cannot be decoded: {exc}") from exc

    def frames(
        self,
        on_audio: Callable[[Any], None] | None = None,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> Iterator[YuvFrame]:
        """Frames ``[start, end)`` in order; audio packets go to ``on_audio`` as demuxed.

        The whole clip counts decoded frames. A range (one segment of a parallel
        run) seeks to the keyframe before ``start`` and numbers frames by their
        timestamps, which equals the count on the constant-rate clips that are
        split (see ``VideoInfo.constant_rate``).
        """
        if start or end is not None:
            yield from self._range(start, self.info.frame_count if end is None else end)
            return
        streams = [self.video] + ([self.audio] if self.audio is not None and on_audio else [])
        index = 0
        try:
            for packet in self._container.demux(*streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None and on_audio is not None:
                        on_audio(packet)
                    continue
                for frame in packet.decode():
                    yield self._upright(index, frame)
                    index += 1
                    check_within_budget(index, self.info.decoded_frames)
        except av.FFmpegError as exc:
            raise self._decode_failed(f"decoding failed at frame {index}", exc) from exc
        self._check_size_kept()
        if index == 0:
            raise InvalidMedia("the clip has no decodable frames")
        check_complete(index, self.info.frame_count)

    def keyframes(self) -> Iterator[YuvFrame]:
        """Only the keyframes, numbered by timestamp: the decoder skips everything else,
        so a sample across a long clip costs a few decodes (a background, a preview)."""
        origin = self.video.start_time or 0
        ticks_per_frame = 1 / (self.fps * self.time_base)
        self.video.codec_context.skip_frame = "NONKEY"
        decoded = 0
        try:
            for packet in self._container.demux(self.video):
                for frame in packet.decode():
                    decoded += 1
                    check_within_budget(decoded, self.info.decoded_frames)
                    if frame.pts is not None:
                        yield self._upright(round((frame.pts - origin) / ticks_per_frame), frame)
        except av.FFmpegError as exc:
            raise self._decode_failed("decoding keyframes failed", exc) from exc
        finally:
            self.video.codec_context.skip_frame = "DEFAULT"
        self._check_size_kept()

    def _range(self, start: int, end: int) -> Iterator[YuvFrame]:
        origin = self.video.start_time or 0
        ticks_per_frame = 1 / (self.fps * self.time_base)
        if start > 0:
            target = origin + int(start * ticks_per_frame)
            self._container.seek(target, stream=self.video, backward=True, any_frame=False)
        expected = start
        try:
            for packet in self._container.demux(self.video):
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    index = round((frame.pts - origin) / ticks_per_frame)
                    if index < start:
                        continue
                    if index >= end:
                        return
                    if index != expected:
                        raise InvalidMedia(
                            f"frame {expected} is missing from the clip's timestamps "
                            f"(found {index}); it cannot be split into segments"
                        )
                    yield self._upright(index, frame)
                    expected += 1
        except av.FFmpegError as exc:
            raise self._decode_failed(f"decoding failed at frame {expected}", exc) from exc
        self._check_size_kept()
        if end >= self.info.frame_count:
            # A range to the clip's end: its count is the header's estimate, held to the
            # same rule as a whole decode (a frame or two short of an estimate is fine).
            check_complete(expected, end)
        elif expected < end:
            raise InvalidMedia(
                f"the clip's data ends early ({expected} of {end} frames decoded): "
                "the upload is truncated or corrupt"
            )

    def _decode_failed(self, what: str, exc: av.FFmpegError) -> InvalidMedia:
        """The error for a failed decode: the decoder refused a picture over the probed
        size, or the data is bad."""
        return self._size_change() or InvalidMedia(f"{what}: {exc}")

    def _size_change(self) -> InvalidMedia | None:
        """The error when the decoder met a picture of another size than the probe's (its
        context then holds that size, even where it refused the picture and went on)."""
        context = self.video.codec_context
        if context.width and (context.width, context.height) != (self.info.width, self.info.height):
            return size_changed(self.info, context.width, context.height)
        return None

    def _check_size_kept(self) -> None:
        """InvalidMedia when the decode ended having met another picture size."""
        changed = self._size_change()
        if changed is not None:
            raise changed

    def _upright(self, index: int, frame: Any) -> YuvFrame:
        check_frame_size(self.info, frame.width, frame.height)
        coded_w, coded_h = even(frame.width), even(frame.height)
        if frame.format.name != PIX_FMT or (coded_w, coded_h) != (frame.width, frame.height):
            frame = frame.reformat(width=coded_w, height=coded_h, format=PIX_FMT)
        if self._turns == 0:
            # The decoder may still read this picture as a reference for frames it is
            # decoding on other threads: editing it in place would leak into them.
            # make_writable() copies the buffer only when it is shared; a reader whose
            # frames are never edited needs no copy.
            if self._writable:
                frame.make_writable()
            return YuvFrame.wrap(index, frame)
        source = YuvFrame.wrap(index, frame)
        planes = [np.rot90(p, self._turns) for p in (source.y, source.u, source.v)]
        return YuvFrame.from_planes(index, planes[0], planes[1], planes[2], template=frame)

    def close(self) -> None:
        """Release the decoder."""
        sample_threads()  # the decoder's threads end with the container
        self._container.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _video_end_s(audio_template: Any) -> float | None:
    """Where the video of ``audio_template``'s container ends, in seconds (None: unknown)."""
    container = getattr(audio_template, "container", None)
    videos = list(container.streams.video) if container is not None else []
    if not videos or not videos[0].duration or videos[0].time_base is None:
        return None
    video = videos[0]
    start = float((video.start_time or 0) * video.time_base)
    return float(video.duration * video.time_base) + start


class FrameWriter:
    """Encodes yuv420p frames to H.264 in an MP4 with ``+faststart`` (x264 unless
    ``encoder`` names NVENC).

    Audio is either remuxed from ``audio_template``'s packets
    (:meth:`mux_audio`: copied untouched when the source is AAC, otherwise
    decoded and encoded to AAC, since only AAC belongs in these MP4s) or
    encoded to AAC from PCM (:meth:`write_audio`, when ``audio_sample_rate``
    is given).
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: Fraction,
        profile: EncodeProfile,
        *,
        time_base: Fraction | None = None,
        audio_template: Any = None,
        audio_sample_rate: int | None = None,
        renumber: bool = False,
        encoder: str = VIDEO_CODEC,
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs even dimensions, got {width}x{height}")
        self.path = path
        self._container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        stream: Any = self._container.add_stream(encoder, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = PIX_FMT
        stream.options = encoder_options(encoder, profile)
        stream.codec_context.time_base = time_base or Fraction(1, 1) / fps
        # As the ffmpeg CLI does: x264's own frame threads on every core (libav's default is 1).
        stream.codec_context.thread_count = 0
        stream.codec_context.thread_type = "FRAME"
        self.stream = stream
        self._frame_duration = 1 / fps
        self.audio: Any = None
        self._audio_pts = 0
        self._transcode_audio = False
        self._audio_in = 0  # source samples taken (transcoding)
        self._audio_end_s: float | None = None  # where the source's video ends
        self._audio_limit: int | None = None  # source samples to take at most
        if audio_template is not None and aac_copyable(
            audio_template.codec_context.name, audio_template.rate
        ):
            self.audio = self._container.add_stream_from_template(audio_template)
        elif audio_template is not None:
            # PyAV's encoder resamples what it is given to the stream's rate and format.
            rate = aac_rate(audio_template.rate)
            self.audio = self._container.add_stream(AUDIO_CODEC, rate=rate)
            self.audio.bit_rate = int(profile.audio_bitrate.rstrip("k")) * 1000
            self.audio.layout = audio_template.layout.name
            self._transcode_audio = True
            # The source's audio may run past its video (an encoder's last frame, or a
            # longer track): re-encoded, it is cut where the source's video ends.
            self._audio_end_s = _video_end_s(audio_template)
        elif audio_sample_rate is not None:
            self.audio = self._container.add_stream("aac", rate=audio_sample_rate)
            self.audio.bit_rate = int(profile.audio_bitrate.rstrip("k")) * 1000
            self.audio.layout = "mono"
        self.frames_written = 0
        self.renumber = renumber  # timestamps from zero at 1/fps, ignoring the source's
        self._muxing = threading.Lock()
        with adopting_threads():  # the encoder's frame threads work for the job writing
            self._start()
        if self._audio_end_s is not None and audio_template is not None:
            # This muxer keeps the encoder's priming frame, which delays the track by one
            # frame: take that much less, so the track still ends with the video.
            priming_s = (self.audio.codec_context.frame_size or 1024) / self.audio.rate
            self._audio_limit = round(max(0.0, self._audio_end_s - priming_s) * audio_template.rate)

    def _start(self) -> None:
        try:
            self._container.start_encoding()
        except av.FFmpegError as exc:
            self._container.close()
            raise EncoderCrashed(f"opening the encoder for {self.path.name} failed: {exc}") from exc

    def write(self, frame: YuvFrame) -> None:
        """Encode one frame (its pts kept when it has one, unless renumbering)."""
        av_frame = frame.av_frame
        if av_frame.pts is None or self.renumber:
            av_frame.time_base = self.stream.codec_context.time_base
            av_frame.pts = round(self.frames_written * self._frame_duration / av_frame.time_base)
        av_frame.pict_type = av.video.frame.PictureType.NONE
        self._mux(self.stream.encode(av_frame))
        self.frames_written += 1
        sample_threads()

    def mux_audio(self, packet: Any) -> None:
        """Copy one demuxed audio packet into the output (or re-encode it as AAC)."""
        if self.audio is None:
            return
        if self._transcode_audio:
            try:
                frames = packet.decode()
            except av.FFmpegError:
                return  # a damaged audio packet: a moment of silence, not a failed job
            for frame in frames:
                kept = self._within_limit(frame)
                if kept is None:
                    continue
                kept.pts = None  # the encoder's own sample count keeps the track gapless
                self._mux(self.audio.encode(kept))
                self._audio_pts += kept.samples
            return
        packet.stream = self.audio
        self._mux([packet])

    def _within_limit(self, frame: Any) -> Any:
        """``frame``, or its part before the source's video ends (None: all after it)."""
        taken, self._audio_in = self._audio_in, self._audio_in + frame.samples
        if self._audio_limit is None or self._audio_in <= self._audio_limit:
            return frame
        keep = self._audio_limit - taken
        if keep <= 0:
            return None
        samples = frame.to_ndarray()
        channels = 1 if frame.format.is_planar else len(frame.layout.channels)
        cut = av.AudioFrame.from_ndarray(
            samples[:, : keep * channels], format=frame.format.name, layout=frame.layout.name
        )
        cut.sample_rate = frame.sample_rate
        return cut

    def write_audio(self, samples: np.ndarray) -> None:
        """Encode mono float32 PCM samples in [-1, 1]."""
        frame = av.AudioFrame.from_ndarray(
            samples.astype(np.float32).reshape(1, -1), format="fltp", layout="mono"
        )
        frame.sample_rate = self.audio.rate
        frame.pts = self._audio_pts
        self._audio_pts += samples.shape[-1]
        self._mux(self.audio.encode(frame))

    def _mux(self, packets: Any) -> None:
        try:
            # The video may be encoded on another thread than the audio is remuxed on.
            with self._muxing:
                self._container.mux(packets)
        except av.FFmpegError as exc:
            raise EncoderCrashed(f"writing {self.path.name} failed: {exc}") from exc

    def close(self) -> None:
        """Flush the encoders and finish the file (moov moved to the front)."""
        try:
            self._mux(self.stream.encode(None))
            if self.audio is not None and self._audio_pts:
                self._mux(self.audio.encode(None))
        finally:
            sample_threads()  # the encoder's threads end with the container
            self._container.close()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._container.close()
