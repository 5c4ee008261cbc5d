"""caption: a description of the record's image, from caption annotations looked up by COCO image id.

The captions file is augment's `captions` (COCO annotations, LLaVA caption jsonl, the Karpathy split file with
`caption_split`, LAVIS' Karpathy files: `seqtune.data.vqa.read_captions`). The target is the image's caption drawn
by (seed, image id) (`seqtune.data.vqa.target_caption`): seeded, and the same for every record of one image — the
same caption the VQA records of augment (`vqa`) get. The step needs no text input: "describe the image" applies
to any image record.
"""

from __future__ import annotations

from seqtune.data.captions import image_key
from seqtune.data.vqa import read_captions, target_caption
from seqtune.errors import ConfigError
from seqtune.steps.base import STEPS, Step, StepUnavailable


@STEPS.register("caption")
class CaptionStep(Step):
    name = "caption"
    needs_input = False
    _captions: dict[int, list[str]] | None = None

    @property
    def captions(self) -> dict[int, list[str]]:
        """{COCO image id: captions}, read on first use."""
        if self._captions is None:
            config = self.context.config
            if not config.captions:
                raise ConfigError("augment: the caption step needs --captions (COCO caption annotations)")
            self._captions = read_captions(config.captions, config.caption_split)
        return self._captions

    def target(self, record) -> str:
        if not record.image:
            raise StepUnavailable("no_image", f"caption: record {record.id} has no 'image'")
        key = image_key(record.image)
        captions = self.captions.get(key) if key is not None else None
        if not captions:
            raise StepUnavailable(
                "no_caption", f"caption: no caption for image '{record.image}' of record {record.id}"
            )
        return target_caption(captions, key, self.context.config.seed)
