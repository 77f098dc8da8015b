"""Typed errors for bad input. Each carries a stable machine `code` and a human message.

The codes are part of the API: the job status object reports them as `error.code`.
"""

from __future__ import annotations


class VideoInputError(Exception):
    """The input cannot be processed; retrying will not help."""

    code = "invalid_video"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class EmptyFile(VideoInputError):
    code = "empty_file"


class NotAVideo(VideoInputError):
    code = "not_a_video"


class CorruptVideo(VideoInputError):
    code = "corrupt_video"


class TruncatedVideo(VideoInputError):
    code = "truncated_video"


class NoVideoStream(VideoInputError):
    code = "no_video_stream"


class UnsupportedCodec(VideoInputError):
    code = "unsupported_codec"


class DimensionsOutOfRange(VideoInputError):
    code = "dimensions_out_of_range"


class VideoTooLong(VideoInputError):
    code = "video_too_long"


class TooManyFrames(VideoInputError):
    """More frames than one job may analyse: model time grows with the frame count."""

    code = "too_many_frames"


class FrameRateTooHigh(VideoInputError):
    """More frames per second of video than the service analyses."""

    code = "frame_rate_too_high"


ERROR_CODES = {
    cls.code: cls
    for cls in (
        EmptyFile,
        NotAVideo,
        CorruptVideo,
        TruncatedVideo,
        NoVideoStream,
        UnsupportedCodec,
        DimensionsOutOfRange,
        VideoTooLong,
        TooManyFrames,
        FrameRateTooHigh,
    )
}
