"""caption: a description of the record's image, looked up by image id in COCO-style caption annotations.

The first caption of the image is the target (COCO lists several; the first keeps the output deterministic
without a random choice). The step needs no text input: "describe the image" applies to any image record.
"""

from seqtune.data.captions import image_key
from seqtune.steps.base import STEPS, Step, StepUnavailable


@STEPS.register("caption")
class CaptionStep(Step):
    name = "caption"
    needs_input = False

    def target(self, record) -> str:
        if not record.image:
            raise StepUnavailable("no_image", f"caption: record {record.id} has no 'image'")
        captions = self.context.captions.get(image_key(record.image))
        if not captions:
            raise StepUnavailable(
                "no_caption", f"caption: no caption for image '{record.image}' of record {record.id}"
            )
        return captions[0]
