"""Models and pipelines: runtime sessions, the model pack, face and fish pipelines."""

import os

# OpenCV's own pixel limit for decoding, read when cv2 is first imported: set before any
# module here imports it, to the photos' limit (inference.image_file.MAX_PIXELS; a test
# keeps the two equal). OpenCV's default is 2**30 pixels, 3 GB of RGB.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "210000000")
