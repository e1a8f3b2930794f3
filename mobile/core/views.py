"""Plain values the device core hands to the app: cases as seen on the phone, sync progress, reports.

No behaviour beyond formatting: these are what a screen draws.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from shared.errors import CATALOGUE
from shared.model import Case


def _messages(code: str | None) -> tuple[str, str]:
    spec = CATALOGUE.get(code or "")
    if spec is None:
        return ("", "")
    return (spec.en, spec.zh)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something about a case the person must know: an op of theirs the server refused, an edit that
    lost a hard conflict, or an open conflict waiting for a supervisor."""

    kind: str  # "rejected" | "conflict" | "open_conflict"
    code: str | None
    message: str
    message_zh: str
    op_id: str | None = None
    op_kind: str = ""
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]" if self.code else self.message

    @classmethod
    def rejected(cls, op_id: str, op_kind: str, code: str | None, detail: str) -> Problem:
        en, zh = _messages(code)
        return cls(
            "rejected",
            code,
            en or "The server refused this change.",
            zh or "服务器拒绝了此修改。",
            op_id,
            op_kind,
            detail,
        )

    @classmethod
    def lost_conflict(cls, op_id: str, op_kind: str, detail: str) -> Problem:
        en = f"Someone else changed {detail or 'this'} first; your value waits for a supervisor's decision."
        zh = f"他人已先修改了{detail or '此项'}，您的修改等待监督员裁决。"
        return cls("conflict", "hard_conflict", en, zh, op_id, op_kind, detail)

    @classmethod
    def open_conflict(cls, conflict_id: str, field_name: str, proposed_by: str) -> Problem:
        en = f"Conflicting values for {field_name} (from {proposed_by}) wait for a supervisor's review."
        zh = f"{field_name} 存在冲突的修改（来自 {proposed_by}），等待监督员审核。"
        return cls("open_conflict", "hard_conflict", en, zh, conflict_id, "edit", field_name)


@dataclass(slots=True)
class CaseView:
    """The local case (server state + this phone's pending changes) and what the screen adds to it.
    Attributes of the case are also readable directly: `view.status` is `view.case.status`."""

    case: Case
    pending: bool = False
    problems: list[Problem] = field(default_factory=list)
    overdue: bool = False

    def __getattr__(self, name: str) -> Any:
        # Only called for names CaseView itself lacks.
        return getattr(object.__getattribute__(self, "case"), name)


@dataclass(frozen=True, slots=True)
class PendingCounts:
    ops: int  # not yet settled by the server (pending or sealed)
    photos: int  # local photos not yet fully uploaded
    bytes: int  # sealed segment bytes not yet acknowledged + photo bytes still to upload
    segments: int = 0

    @property
    def empty(self) -> bool:
        return self.ops == 0 and self.photos == 0


@dataclass(frozen=True, slots=True)
class SyncProgress:
    phase: str  # "sealing" | "photos" | "pushing" | "pulling" | "downloading" | "done"
    ops_done: int = 0
    ops_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class SyncProblem:
    step: str
    code: str
    message: str
    message_zh: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.step}: {self.message} [{self.code}]"


@dataclass(slots=True)
class SyncReport:
    started_at: int
    finished_at: int = 0
    ok: bool = True
    reached_server: bool = False
    segments_sealed: int = 0
    segments_sent: int = 0
    ops_sent: int = 0
    photos_uploaded: int = 0
    bytes_uploaded: int = 0
    photos_downloaded: int = 0
    cases_received: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    problems: list[SyncProblem] = field(default_factory=list)
    pending_ops: int = 0
    pending_photos: int = 0

    @property
    def rejected(self) -> int:
        return self.outcomes.get("rejected", 0)

    @property
    def conflicts(self) -> int:
        return self.outcomes.get("hard_conflict", 0)

    def summary(self, lang: str = "en") -> str:
        zh = lang.startswith("zh")
        if not self.ok and self.problems:
            first = self.problems[0]
            text = first.message_zh if zh else first.message
            return f"{text} [{first.code}]"
        if zh:
            parts = [
                f"已发送 {self.ops_sent} 项操作",
                f"上传照片 {self.photos_uploaded} 张",
                f"收到 {self.cases_received} 个案件",
            ]
            if self.rejected:
                parts.append(f"{self.rejected} 项被拒绝")
            if self.conflicts:
                parts.append(f"{self.conflicts} 项冲突")
            return "同步完成：" + "，".join(parts) + "。"
        parts = [
            f"sent {self.ops_sent} changes",
            f"uploaded {self.photos_uploaded} photos",
            f"received {self.cases_received} cases",
        ]
        if self.rejected:
            parts.append(f"{self.rejected} refused")
        if self.conflicts:
            parts.append(f"{self.conflicts} in conflict")
        return "Synced: " + ", ".join(parts) + "."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SyncReport:
        problems = [SyncProblem(**p) for p in d.get("problems", [])]
        return cls(**{**d, "problems": problems})
