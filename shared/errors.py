"""The one catalogue of refusals, shared by the phone and the server.

Every refusal anywhere in gridsync carries one of these codes. A code is stable: once released it
keeps its meaning and its HTTP status forever (add new codes, never renumber). The messages are what
a person sees on the phone, in both languages the product ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: str
    status: int
    en: str
    zh: str


def _spec(code: str, status: int, en: str, zh: str) -> ErrorSpec:
    return ErrorSpec(code, status, en, zh)


CATALOGUE: dict[str, ErrorSpec] = {
    s.code: s
    for s in (
        # --- requests and authentication -------------------------------------------------------
        _spec("request.malformed", 400, "The request is malformed.", "请求格式错误。"),
        _spec("request.too_large", 413, "The request is too large.", "请求过大。"),
        _spec("request.unsigned", 401, "The request is not signed.", "请求未签名。"),
        _spec("request.bad_signature", 401, "The request signature is invalid.", "请求签名无效。"),
        _spec(
            "request.expired",
            401,
            "The request timestamp is outside the allowed window.",
            "请求时间超出允许范围，请检查手机时间。",
        ),
        _spec("request.replayed", 401, "This request was already received.", "该请求已被接收过（重放）。"),
        _spec("request.not_found", 404, "No such resource.", "资源不存在。"),
        _spec(
            "request.rate_limited",
            429,
            "Too many requests; try again after the time the server gave.",
            "请求过于频繁，请按服务器给出的时间后重试。",
        ),
        _spec(
            "request.timeout",
            408,
            "The request arrived too slowly and was cut off.",
            "请求传输过慢，已被中断。",
        ),
        _spec("request.forbidden", 403, "You may not do this.", "无权执行此操作。"),
        _spec(
            "request.method_not_allowed",
            405,
            "This address does not take that method; the Allow header lists those it takes.",
            "此地址不支持该请求方法（允许的方法见 Allow 头）。",
        ),
        _spec("device.unknown", 401, "This device is not enrolled.", "此设备未注册。"),
        _spec("device.revoked", 403, "This device has been revoked.", "此设备已被停用。"),
        _spec(
            "enroll.bad_code",
            403,
            "The enrollment code is wrong, used or expired.",
            "注册码错误、已使用或已过期。",
        ),
        _spec("enroll.bad_key", 400, "The device keys are not valid.", "设备密钥无效。"),
        _spec(
            "server.key_mismatch",
            409,
            "The server's key does not match the pinned key.",
            "服务器密钥与已保存的不一致。",
        ),
        _spec(
            "server.unavailable",
            503,
            "The server cannot accept work right now.",
            "服务器暂时无法处理，请稍后重试。",
        ),
        _spec(
            "server.storage_full",
            507,
            "The server has no space left; nothing was saved.",
            "服务器存储空间不足，未保存任何内容。",
        ),
        _spec(
            "server.internal",
            500,
            "The server failed on this input; it was set aside for an administrator and nothing was saved.",
            "服务器处理此内容时出错，已交由管理员处理，未保存任何内容。",
        ),
        # --- sealed segments and envelopes ---------------------------------------------------
        _spec("segment.malformed", 400, "The segment is malformed or truncated.", "数据包格式错误或不完整。"),
        _spec(
            "segment.bad_version", 400, "The segment format version is not supported.", "不支持的数据包版本。"
        ),
        _spec("segment.too_large", 413, "The segment is too large.", "数据包过大。"),
        _spec("segment.too_many_ops", 413, "The segment holds too many operations.", "数据包内操作过多。"),
        _spec("segment.bad_signature", 401, "The segment signature is invalid.", "数据包签名无效。"),
        _spec(
            "segment.unknown_key", 400, "The segment names a key that is not known.", "数据包使用了未知密钥。"
        ),
        _spec("segment.decrypt_failed", 400, "The segment could not be decrypted.", "数据包无法解密。"),
        _spec("segment.decompress_failed", 400, "The segment contents are corrupt.", "数据包内容损坏。"),
        _spec(
            "segment.bomb", 413, "The segment expands beyond the allowed size.", "数据包解压后超过允许大小。"
        ),
        _spec(
            "segment.count_mismatch",
            400,
            "The segment's operations do not match its header.",
            "数据包内容与包头不一致。",
        ),
        _spec("segment.wrong_device", 403, "The segment was made by another device.", "数据包来自其他设备。"),
        _spec(
            "segment.conflict",
            409,
            "A different segment with the same sequence numbers was received.",
            "收到了序号相同但内容不同的数据包。",
        ),
        _spec(
            "segment.chain_broken",
            409,
            "The segment does not follow the previous one.",
            "数据包与上一个不衔接。",
        ),
        _spec(
            "segment.fork",
            409,
            "The server holds other changes under these numbers; this phone re-sends its changes under new numbers.",
            "服务器已有使用这些序号的其他修改；本机将以新序号重新发送修改。",
        ),
        # --- operations --------------------------------------------------------------------
        _spec("op.malformed", 400, "The operation is malformed.", "操作格式错误。"),
        _spec("op.unknown_kind", 400, "Unknown kind of operation.", "未知的操作类型。"),
        _spec("op.bad_field", 400, "A field has an invalid value.", "字段取值无效。"),
        _spec("op.sequence", 400, "Operation sequence numbers are not contiguous.", "操作序号不连续。"),
        # --- cases and the workflow ----------------------------------------------------------
        _spec("case.unknown", 404, "The case does not exist (yet).", "案件不存在。"),
        _spec("case.exists", 409, "A different case with this id already exists.", "案件编号冲突。"),
        _spec(
            "case.frozen", 409, "The case is closed or ended and cannot be changed.", "案件已结束，不能修改。"
        ),
        _spec(
            "case.not_allowed",
            403,
            "Your role may not do this to this case.",
            "您的角色无权对此案件执行此操作。",
        ),
        _spec("case.outside_grid", 403, "The case is outside your grids.", "案件不在您负责的网格内。"),
        _spec(
            "case.bad_transition",
            409,
            "This step is not possible from the case's current status.",
            "案件当前状态下不能执行此步骤。",
        ),
        _spec(
            "case.evidence_missing",
            409,
            "Required photos are missing for this step.",
            "缺少此步骤所需的照片。",
        ),
        _spec("case.reason_required", 400, "A reason is required for this step.", "此步骤需要填写原因。"),
        _spec("case.unknown_category", 400, "Unknown category.", "未知的案件类别。"),
        _spec(
            "case.no_grid",
            400,
            "The location is outside every grid of the city; only a supervisor may place a case there.",
            "位置不在本市任何网格内，只有监督员可以在此处登记案件。",
        ),
        _spec("case.conflict_unknown", 404, "No such open conflict on this case.", "该案件没有此冲突。"),
        _spec(
            "case.grid_derived",
            400,
            "The grid follows the case's location and cannot be set; move the location instead.",
            "网格由案件位置决定，不能直接修改；请修改位置。",
        ),
        _spec(
            "case.before_not_arrived",
            409,
            "The before photo has not arrived on the server yet; try again after the phone that took it has synced.",
            "处置前照片尚未到达服务器；请在拍摄该照片的手机同步后重试。",
        ),
        _spec(
            "case.after_not_arrived",
            409,
            "The after photo has not arrived on the server yet; try again after the phone that took it has synced.",
            "处置后照片尚未到达服务器；请在拍摄该照片的手机同步后重试。",
        ),
        _spec(
            "case.verification_not_arrived",
            409,
            "The verification photo has not arrived on the server yet; try again after the phone that took it "
            "has synced.",
            "核查照片尚未到达服务器；请在拍摄该照片的手机同步后重试。",
        ),
        # --- photos ---------------------------------------------------------------------------
        _spec("photo.not_image", 400, "The file is not an image.", "文件不是图片。"),
        _spec("photo.too_large", 413, "The photo is too large.", "照片过大。"),
        _spec("photo.bomb", 413, "The image has too many pixels.", "图片像素过多。"),
        _spec("photo.truncated", 400, "The image is truncated or corrupt.", "图片不完整或已损坏。"),
        _spec(
            "photo.hash_mismatch",
            409,
            "The uploaded photo does not match its fingerprint.",
            "上传的照片与校验值不符。",
        ),
        _spec(
            "photo.bad_offset",
            409,
            "The upload offset does not match what the server holds.",
            "上传位置与服务器记录不一致。",
        ),
        _spec("photo.unknown", 404, "The photo has not arrived yet.", "照片尚未上传。"),
        _spec(
            "photo.foreign",
            403,
            "This photo belongs to another phone or to a case you may not see.",
            "该照片属于其他设备或您无权查看的案件。",
        ),
    )
}


class GridsyncError(Exception):
    """A refusal with a stable code. `detail` is for logs and developers, never required.
    `context` is what the phone needs to carry on, as plain JSON values (`segment.fork`: where to
    resume). A detail may quote the refused input: it is kept valid UTF-8 (a lone surrogate becomes
    its escape), so a refusal can always be sent and written down."""

    def __init__(self, code: str, detail: str = "", *, context: dict[str, Any] | None = None) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"unknown error code {code!r}")
        self.code = code
        self.detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")
        self.context = context
        super().__init__(f"{code}: {self.detail}" if detail else code)

    @property
    def spec(self) -> ErrorSpec:
        return CATALOGUE[self.code]

    @property
    def status(self) -> int:
        return CATALOGUE[self.code].status

    def message(self, lang: str = "en") -> str:
        spec = CATALOGUE[self.code]
        return spec.zh if lang.startswith("zh") else spec.en

    def to_json(self) -> dict[str, Any]:
        spec = CATALOGUE[self.code]
        body: dict[str, Any] = {"code": self.code, "message": spec.en, "message_zh": spec.zh}
        body["detail"] = self.detail
        if self.context is not None:
            body["context"] = self.context
        return body


def message(code: str, lang: str = "en") -> str:
    """The human message for a code, in `lang` ("en" or "zh-CN")."""
    spec = CATALOGUE[code]
    return spec.zh if lang.startswith("zh") else spec.en
