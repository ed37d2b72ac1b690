from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from fleet.plates import InvalidPlate, normalize_plate

# Magic numbers of the formats a document scan may have; the extension alone proves nothing.
_SIGNATURES = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
}


def clean_plate(value: str) -> str:
    if not value:
        return ""
    try:
        return normalize_plate(value)
    except InvalidPlate:
        raise ValidationError(
            _(
                "“%(value)s” is not a valid Greek plate (letters Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ "
                "followed by digits, e.g. ΚΗΥ-1234)."
            ),
            code="invalid_plate",
            params={"value": value},
        )


def validate_document_file(upload) -> None:
    limit = settings.KINISI_DOCUMENT_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            _("The file is %(size)s MB; the limit is %(limit)s MB."),
            code="file_too_large",
            params={"size": round(upload.size / 1e6, 1), "limit": round(limit / 1e6, 1)},
        )
    extension = upload.name.rsplit(".", 1)[-1].lower() if "." in upload.name else ""
    signatures = _SIGNATURES.get(extension)
    if signatures is None:
        raise ValidationError(_("Only PDF, PNG and JPEG files can be uploaded."), code="file_type")
    position = upload.tell() if hasattr(upload, "tell") else 0
    upload.seek(0)
    head = upload.read(16)
    upload.seek(position)
    if not any(head.startswith(sig) for sig in signatures):
        raise ValidationError(
            _("The file's content is not a valid %(kind)s file."),
            code="file_content",
            params={"kind": extension.upper()},
        )
