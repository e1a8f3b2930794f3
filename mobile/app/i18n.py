"""Every word the app shows, in Simplified Chinese and English: one table, one lookup.

Keys are dotted nouns by screen. A value may hold `{name}` placeholders filled by `Translator.t`,
and `<name:one|other>` word choices by a number (English plurals: "{count} <count:case|cases>";
Chinese needs none).
Error messages come from the one error catalogue (`shared/errors.py`) by their stable code; case
categories, departments and grids carry their own bilingual names (`shared/catalogue.py`). The
language follows the device unless the worker picks one in Settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Final

from shared.errors import CATALOGUE

LANGUAGES: Final = ("zh-CN", "en")
#: `<count:case|cases>`: the first word when `count` is 1, the second otherwise
_CHOICE: Final = re.compile(r"<(\w+):([^|<>]*)\|([^|<>]*)>")
#: where a phone shows times until it knows its city's calendar: every gridsync city so far is in China
CHINA_STANDARD_TIME: Final = timezone(timedelta(hours=8))


def city_zone(utc_offset_minutes: int) -> tzinfo:
    """The city's wall clock: a fixed offset from its working calendar (China has no daylight saving
    time, so no time-zone database is needed, and a phone set to another zone still shows city time)."""
    return timezone(timedelta(minutes=utc_offset_minutes))


#: key -> (zh-CN, en)
STRINGS: Final[dict[str, tuple[str, str]]] = {
    "app.title": ("网格通", "gridsync"),
    "app.loading": ("正在打开…", "Opening…"),
    "app.keys_unreadable": (
        "无法读取本机安全存储中的设备密钥。请关闭应用后重新打开；如仍不行，请联系管理员。",
        "The device keys in this phone's secure storage cannot be read. Close the app and open it "
        "again; if that does not help, ask your administrator.",
    ),
    "app.back": ("返回", "Back"),
    "app.cancel": ("取消", "Cancel"),
    "app.confirm": ("确定", "OK"),
    "app.close": ("关闭", "Close"),
    "app.save": ("保存", "Save"),
    "app.none": ("无", "None"),
    # navigation
    "nav.home": ("我的工作", "My work"),
    "nav.report": ("上报", "Report"),
    "nav.map": ("地图", "Map"),
    "nav.approvals": ("审批", "Approvals"),
    "nav.sync": ("同步", "Sync"),
    "nav.settings": ("设置", "Settings"),
    # roles
    "role.worker": ("网格员", "Grid worker"),
    "role.handler": ("处置人员", "Handler"),
    "role.supervisor": ("监督员", "Supervisor"),
    "role.admin": ("管理员", "Administrator"),
    # case statuses
    "status.reported": ("待立案", "Reported"),
    "status.dispatched": ("已派遣", "Dispatched"),
    "status.handling": ("处理中", "Handling"),
    "status.returned": ("已回退", "Sent back"),
    "status.reported_back": ("已反馈", "Reported back"),
    "status.verified": ("已核查", "Verified"),
    "status.closed": ("已结案", "Closed"),
    "status.rejected": ("不予立案", "Rejected"),
    "status.voided": ("已作废", "Voided"),
    "status.duplicate": ("重复案件", "Duplicate"),
    # workflow actions (the buttons)
    "action.file": ("立案派遣", "File and dispatch"),
    "action.reject": ("不予立案", "Reject"),
    "action.dispatch": ("重新派遣", "Dispatch again"),
    "action.start": ("开始处理", "Start handling"),
    "action.send_back": ("回退", "Send back"),
    "action.request_extension": ("申请延期", "Ask for extension"),
    "action.approve_extension": ("批准延期", "Approve extension"),
    "action.deny_extension": ("驳回延期", "Deny extension"),
    "action.report_back": ("处理反馈", "Report back"),
    "action.verify": ("核查", "Verify on site"),
    "action.close": ("批准结案", "Approve closure"),
    "action.rework": ("返工", "Send back for rework"),
    "action.reopen": ("重新打开", "Reopen"),
    "action.void": ("作废", "Void"),
    "action.link_duplicate": ("合并重复", "Link as duplicate"),
    "action.create": ("上报", "Report"),
    "action.edit": ("修改", "Edit"),
    "action.note": ("备注", "Note"),
    "action.photo": ("照片", "Photo"),
    "action.resolve": ("处理冲突", "Resolve conflict"),
    # photo stages
    "stage.before": ("处置前", "Before"),
    "stage.after": ("处置后", "After"),
    "stage.verification": ("核查", "Verification"),
    # enrollment
    "enroll.title": ("设备注册", "Enroll this device"),
    "enroll.intro": (
        "输入管理员给您的服务器地址和一次性注册码，或粘贴注册链接。",
        "Enter the server address and one-time code from your administrator, or paste the enrollment link.",
    ),
    "enroll.server": ("服务器地址", "Server address"),
    "enroll.code": ("注册码", "Enrollment code"),
    "enroll.link": ("注册链接（gridsync://…）", "Enrollment link (gridsync://…)"),
    "enroll.use_link": ("使用链接", "Use link"),
    "enroll.submit": ("注册", "Enroll"),
    "enroll.working": ("正在注册…", "Enrolling…"),
    "enroll.done": ("注册成功", "Enrolled"),
    "enroll.welcome": ("欢迎，{name}", "Welcome, {name}"),
    "enroll.grids": ("负责网格：{grids}", "Grids: {grids}"),
    "enroll.all_grids": ("全部网格", "All grids"),
    "enroll.department": ("部门：{department}", "Department: {department}"),
    "enroll.continue": ("开始工作", "Start work"),
    "enroll.need_server": (
        "请填写服务器地址（http:// 或 https:// 开头）。",
        "Enter the server address (starting with http:// or https://).",
    ),
    "enroll.need_code": ("请填写 12 位注册码。", "Enter the 12-character enrollment code."),
    "enroll.already": (
        "本机已注册。如需用新的注册码，请先在设置中退出登录。",
        "This phone is already enrolled. To use a new code, sign out in Settings first.",
    ),
    "enroll.link_read": ("已从链接读取服务器地址和注册码。", "Server address and code read from the link."),
    # errors the app itself explains
    "error.network": (
        "无法连接服务器。请检查网络和服务器地址，稍后再试。",
        "Cannot reach the server. Check the network and the server address, then try again.",
    ),
    "error.unexpected": ("出现意外错误：{detail}", "Something went wrong: {detail}"),
    "error.unknown_code": ("操作被拒绝（{code}）。", "Refused ({code})."),
    "error.photo": ("这张照片无法使用：{reason}", "This photo cannot be used: {reason}"),
    "error.no_camera": ("此设备无法拍照，请选择图片文件。", "No camera here; pick an image file instead."),
    # home
    "home.title": ("我的工作", "My work"),
    "home.hello": ("{name} · {role}", "{name} · {role}"),
    "home.search": ("搜索案件", "Search cases"),
    "home.filter.all": ("全部", "All"),
    "home.filter.mine": ("我上报的", "My reports"),
    "home.filter.assigned": ("待我处理", "For me"),
    "home.filter.open": ("未结案", "Open"),
    "home.filter.overdue": ("超期", "Overdue"),
    "home.empty": ("这里还没有案件。", "No cases here yet."),
    "home.pending": ("{what}未同步", "{what} not synced"),
    "pending.reports": ("{count} 条上报", "{count} <count:report|reports>"),
    "pending.actions": ("{count} 项操作", "{count} <count:action|actions>"),
    "pending.photos": ("{count} 张照片", "{count} <count:photo|photos>"),
    "pending.and": ("、", ", "),
    "home.all_synced": ("全部已同步", "All synced"),
    "home.new_report": ("上报新问题", "Report a problem"),
    "home.deadline": ("期限 {when}", "Due {when}"),
    "home.overdue": ("已超期", "Overdue"),
    "home.not_synced": ("未同步", "Not synced"),
    "home.problem": ("有问题", "Needs attention"),
    "home.conflict": ("有冲突", "Conflict"),
    "home.last_sync": ("上次成功同步：{when}", "Last successful sync: {when}"),
    "home.last_round_failed": ("最近一次没连上服务器", "the last try could not reach the server"),
    "home.never_synced": ("尚未同步", "Never synced"),
    # report
    "report.title": ("上报问题", "Report a problem"),
    "report.category": ("问题类别", "Category"),
    "report.category_pick": ("选择类别", "Choose a category"),
    "report.category_search": ("搜索类别", "Search categories"),
    "report.recent": ("最近使用", "Recently used"),
    "report.components": ("部件", "Components"),
    "report.events": ("事件", "Events"),
    "report.photos": ("照片", "Photos"),
    "report.add_photo": ("添加照片", "Add photo"),
    "report.take_photo": ("拍照", "Take photo"),
    "report.choose_photo": ("从相册选择", "Choose from gallery"),
    "report.take_after": ("拍处置后照片", "Take after photo"),
    "camera.shutter": ("拍摄", "Shoot"),
    "report.remove_photo": ("删除照片", "Remove photo"),
    "report.photo_count": ("{count} 张照片", "{count} <count:photo|photos>"),
    "report.location": ("位置", "Location"),
    "report.locate": ("获取定位", "Get position"),
    "report.locating": ("正在定位…", "Locating…"),
    "report.lock": ("锁定位置", "Lock position"),
    "report.unlock": ("解除锁定", "Unlock"),
    "report.pin": ("在地图上标记", "Pin on map"),
    "report.unpin": ("取消标记", "Remove pin"),
    "report.accuracy": ("精度约 {meters} 米", "Accuracy about {meters} m"),
    "report.source.gps": ("GPS 定位", "GPS"),
    "report.source.photo": ("照片中的位置", "Photo position"),
    "report.source.manual": ("手动标记", "Pinned by hand"),
    "report.locked": ("已锁定", "Locked"),
    "report.no_location": (
        "还没有位置。可获取定位，或在地图上标记。",
        "No position yet. Get a GPS fix or pin it on the map.",
    ),
    "report.gps.denied": (
        "没有定位权限。请在手机设置（浏览器中：地址栏左侧）允许本应用使用位置，再点“获取定位”；也可以在地图上标记。",
        "Location is not allowed. Allow it for this app in the phone's settings (in a browser: left of "
        "the address bar), then tap “Get position”; or pin the place on the map.",
    ),
    "report.gps.off": (
        "手机的定位服务已关闭。请打开定位服务，再点“获取定位”；也可以在地图上标记。",
        "The phone's location service is off. Turn it on, then tap “Get position”; or pin the place on the map.",
    ),
    "report.gps.timeout": (
        "暂时没有 GPS 信号。请到开阔处再点“获取定位”；也可以在地图上标记。",
        "No GPS signal yet. Step into the open and tap “Get position”; or pin the place on the map.",
    ),
    "report.gps.failed": (
        "无法获取定位。请再点“获取定位”；也可以在地图上标记。",
        "No position could be read. Tap “Get position” again, or pin the place on the map.",
    ),
    "report.grid": ("网格：{grid}", "Grid: {grid}"),
    "report.no_grid": ("不在您负责的网格内", "Not inside a known grid"),
    "report.description": ("问题描述（可选）", "Description (optional)"),
    "report.address": ("地址（可选）", "Address (optional)"),
    "report.on_spot": ("已当场处置", "Fixed on the spot"),
    "report.after_photo": ("添加处置后照片", "Add after photo"),
    "report.save": ("保存上报", "Save report"),
    "report.saved_online": ("已保存，正在上传。", "Saved. Uploading now."),
    "report.saved_offline": (
        "已保存在手机上。现在连不上服务器，恢复网络后会自动上传。",
        "Saved on this phone. The server cannot be reached now; it uploads by itself when the network is back.",
    ),
    "report.saved_new": (
        "已保存在手机上，正在尝试上传。",
        "Saved on this phone; trying to upload now.",
    ),
    "report.need_category": ("请选择问题类别。", "Choose a category."),
    "report.need_location": ("请先获取或标记位置。", "Get or pin a position first."),
    "report.need_photo": ("请至少添加一张照片。", "Add at least one photo."),
    "report.need_after": ("当场处置需要处置后照片。", "Fixed on the spot needs an after photo."),
    "report.pin_lat": ("纬度", "Latitude"),
    "report.pin_lon": ("经度", "Longitude"),
    "report.pin_center": ("使用我的网格中心", "Use my grid's centre"),
    # case detail
    "case.title": ("案件详情", "Case"),
    "case.number": ("案件号 {no}", "Case {no}"),
    "case.number_pending": ("（待服务器编号）", "(number given by the server)"),
    "case.status": ("状态", "Status"),
    "case.category": ("类别", "Category"),
    "case.grid": ("网格", "Grid"),
    "case.reporter": ("上报人", "Reported by"),
    "case.department": ("责任部门", "Department"),
    "case.handler": ("处置人", "Handler"),
    "case.deadline": ("处置期限", "Deadline"),
    "case.reported_at": ("上报时间", "Reported"),
    "case.description": ("描述", "Description"),
    "case.location": ("位置", "Location"),
    "case.extension_pending": (
        "延期申请待批准：{hours} 小时",
        "Extension asked: {hours} h, waiting for approval",
    ),
    "case.photos": ("照片", "Photos"),
    "case.no_photos": ("暂无照片", "No photos yet"),
    "case.photo_missing": ("照片尚未下载", "Photo not downloaded yet"),
    "case.notes": ("备注", "Notes"),
    "case.add_note": ("添加备注", "Add note"),
    "case.note_text": ("备注内容", "Note"),
    "case.timeline": ("处理记录", "Timeline"),
    "case.actions": ("可执行的操作", "What you can do"),
    "case.no_actions": ("您暂时没有可执行的操作。", "Nothing for you to do now."),
    "case.reason": ("原因", "Reason"),
    "case.hours": ("延期小时数", "Extra hours"),
    "case.hours_invalid": ("请用数字填写延期小时数，例如 8。", "Enter the extra hours as a number, e.g. 8."),
    "case.department_pick": ("派遣部门", "Department"),
    "case.needs_photo": ("此步骤需要一张{stage}照片。", "This step needs a {stage} photo."),
    "case.add_stage_photo": ("添加{stage}照片", "Add {stage} photo"),
    "case.done": ("已保存：{action}", "Saved: {action}"),
    "case.public_text": ("公开说明", "Public text"),
    "case.public_text_hint": (
        "市民在公开平台上看到的问题说明。不要写姓名、电话、身份证号等个人信息。",
        "What the public sees about this problem. No names, phone or ID numbers.",
    ),
    "case.public_text_empty": ("请先填写公开说明。", "Write the public text first."),
    "case.public_text_saved": ("公开说明已更新。", "Public text updated."),
    "case.public_text_offline": (
        "修改公开说明需要联网，本次未做任何更改。",
        "Changing the public text needs a connection; nothing was changed.",
    ),
    "case.pending": ("{count} 项等待同步", "{count} waiting to sync"),
    "case.problems": ("需要注意", "Needs attention"),
    "case.rejected_op": (
        "“{action}”被服务器拒绝：{message}",
        "“{action}” was refused by the server: {message}",
    ),
    "case.conflict": (
        "字段“{field}”有冲突：现为 {kept}，另一人提交 {proposed}",
        "Conflict on “{field}”: kept {kept}, other value {proposed}",
    ),
    "case.keep": ("保留现值", "Keep current"),
    "case.duplicates": ("可能重复", "Possible duplicates"),
    "case.duplicates_hint": (
        "服务器发现以下案件可能是同一问题（同类、50 米内、一天内），最近的在前。",
        "The server found these may be the same problem (same category, within 50 m, within a day), nearest first.",
    ),
    "case.duplicate_distance": ("相距 {metres} 米", "{metres} m away"),
    "case.link_duplicate": ("本案为其重复", "This case duplicates it"),
    "case.confirm.link_duplicate": (
        "本案将标记为重复案件并结束处理。确定？",
        "This case will be marked a duplicate and its handling ends. Link it?",
    ),
    "case.confirm.close": (
        "批准结案后，案件即告结束，各方都会看到“已结案”。确定批准？",
        "Approving closes the case for everyone. Approve the closure?",
    ),
    "case.take": ("采用新值", "Take other value"),
    "case.not_found": ("找不到此案件。", "This case is not on this device."),
    "case.on_spot": ("当场处置", "Fixed on the spot"),
    "case.reworks": ("返工 {count} 次", "Reworked {count}×"),
    "case.timeline_entry": ("{action} · {actor}", "{action} · {actor}"),
    "case.outcome.applied": ("已生效", "applied"),
    "case.outcome.rejected": ("被拒绝", "refused"),
    "case.outcome.soft_conflict": ("已生效（有并发修改）", "applied (concurrent edit)"),
    "case.outcome.hard_conflict": ("冲突待审", "conflict for review"),
    "case.outcome.duplicate": ("重复", "duplicate"),
    "case.enlarge": ("点击放大", "Tap to enlarge"),
    # map
    "map.title": ("地图", "Map"),
    "map.my_position": ("我的位置", "My position"),
    "map.legend": ("图例", "Legend"),
    "map.no_tiles": (
        "底图需要网络；没有网络时仍显示网格和案件。",
        "The base map needs a network; grids and cases still show without it.",
    ),
    "map.cases": ("{count} 个案件", "{count} <count:case|cases>"),
    # supervisor
    "sup.title": ("审批与评价", "Approvals and figures"),
    "sup.queue": ("待审批", "Waiting for you"),
    "sup.queue_empty": ("没有等您处理的案件。", "Nothing is waiting for you."),
    "sup.waiting": ("上报于{when}", "reported {when}"),
    "sup.group.file": ("待立案（{count}）", "To file ({count})"),
    "sup.group.close": ("待批准结案（{count}）", "Closures to approve ({count})"),
    "sup.group.extension": ("延期申请（{count}）", "Extensions asked ({count})"),
    "sup.group.conflict": ("冲突待审（{count}）", "Conflicts to review ({count})"),
    "sup.open_case": ("查看", "Open"),
    "sup.dashboard": ("综合评价", "Evaluation"),
    "sup.closure_rate": ("结案率", "Closure rate"),
    "sup.on_time_rate": ("按期结案率", "On-time closure rate"),
    "sup.rework_rate": ("返工率", "Rework rate"),
    "sup.extension_rate": ("延期率", "Extension rate"),
    "sup.valid_reports": ("有效上报数", "Valid reports"),
    "sup.overdue": ("超期案件", "Overdue cases"),
    "sup.open": ("未结案件", "Open cases"),
    "sup.total": ("案件总数", "All cases"),
    "sup.by_status": ("按状态", "By status"),
    "sup.why.close": ("待结案", "Closure to approve"),
    "sup.why.extension": ("延期申请", "Extension asked"),
    "sup.why.file": ("待立案", "To file"),
    "sup.why.conflict": ("冲突待审", "Conflict to review"),
    "sup.why.other": ("待处理", "To act on"),
    # sync
    "sync.title": ("同步", "Sync"),
    "sync.now": ("立即同步", "Sync now"),
    "sync.running": ("正在同步…", "Syncing…"),
    "sync.pending_reports": ("待上传的上报：{count}", "Reports to upload: {count}"),
    "sync.pending_actions": ("待上传的操作：{count}", "Actions to upload: {count}"),
    "sync.pending_photos": ("待上传的照片：{count}", "Photos to upload: {count}"),
    "sync.waiting_outcome": ("等待服务器确认：{count}", "Waiting for the server: {count}"),
    "sync.nothing_pending": ("所有内容都已上传。", "Everything is uploaded."),
    "sync.last_ok": ("上次成功同步：{when}", "Last successful sync: {when}"),
    "sync.last_round": ("最近一次同步：{time}", "Last sync round: {time}"),
    "sync.never": ("还没有成功同步过。", "Not synced yet."),
    "sync.result_ok": (
        "同步完成：上传 {sent} 项，收到 {received} 个更新。",
        "Synced: sent {sent}, received {received} <received:update|updates>.",
    ),
    "sync.result_offline": (
        "没有网络，内容已安全保存在手机上，有网络时会自动上传。",
        "No network. Everything is saved on this phone and uploads when the network is back.",
    ),
    "sync.result_error": ("同步未完成：{message}", "Sync did not finish: {message}"),
    "sync.rejected": (
        "{count} 项被服务器拒绝，请在案件中查看原因。",
        "{count} <count:change was|changes were> refused; open the case to see why.",
    ),
    "sync.export": ("导出交接文件", "Export hand-over file"),
    "sync.exported": ("已导出到 {path}", "Exported to {path}"),
    "sync.export_hint": (
        "没有网络时，可把交接文件拷给管理员导入。",
        "With no network, copy the hand-over file to your administrator.",
    ),
    "sync.progress": ("{done}/{total}", "{done}/{total}"),
    # settings
    "settings.title": ("设置", "Settings"),
    "settings.language": ("语言", "Language"),
    "settings.language.auto": ("跟随系统", "Follow the device"),
    "settings.language.zh": ("简体中文", "简体中文"),
    "settings.language.en": ("English", "English"),
    "settings.server": ("服务器", "Server"),
    "settings.device": ("本机", "This device"),
    "settings.device_id": ("设备编号", "Device id"),
    "settings.worker": ("人员", "Worker"),
    "settings.tile_url": ("地图底图地址", "Map tile address"),
    "settings.tile_hint": (
        "例如 https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    ),
    "settings.sign_out": ("退出登录", "Sign out"),
    "settings.sign_out_confirm": (
        "确定退出？本机数据将被清除，需要重新注册。",
        "Sign out? This device's data is erased and it must be enrolled again.",
    ),
    "settings.sign_out_pending": (
        "还有 {count} 项未上传！现在退出会丢失这些内容。请先同步，或导出交接文件。",
        "{count} <count:change is|changes are> not uploaded! Signing out now loses them. Sync first, or "
        "export a hand-over file.",
    ),
    "settings.sign_out_anyway": ("仍然退出（丢失未上传内容）", "Sign out anyway (lose them)"),
    "settings.version": ("版本 {version}", "Version {version}"),
    # time
    "time.just_now": ("刚刚", "just now"),
    "time.minutes_ago": ("{n} 分钟前", "{n} min ago"),
    "time.hours_ago": ("{n} 小时前", "{n} h ago"),
}


def detect_language(locales: Iterable[str]) -> str:
    """The app language for the device's ordered locale preferences ("zh-Hans-CN", "en_US", …).

    The first locale that is Chinese or English decides; anything else falls back to Chinese, the
    language the product is made for.
    """
    for raw in locales:
        tag = raw.replace("_", "-").lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "zh-CN"


class Translator:
    """Looks words up in `STRINGS` for one language, and writes times on the city's clock.

    `zone` is asked at every use (the city is known only after enrollment); by default China.
    """

    def __init__(self, lang: str = "zh-CN", zone: Callable[[], tzinfo] | None = None) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unsupported language {lang!r}")
        self.lang = lang
        self.zone = zone or (lambda: CHINA_STANDARD_TIME)

    @property
    def zh(self) -> bool:
        return self.lang == "zh-CN"

    def t(self, key: str, **values: object) -> str:
        zh, en = STRINGS[key]
        text = zh if self.zh else en
        if "<" in text:
            text = _CHOICE.sub(lambda m: m[2] if values.get(m[1]) == 1 else m[3], text)
        return text.format(**values) if values else text

    def error(self, code: str) -> str:
        """A refusal's message from the shared catalogue; an unknown code still reads as words."""
        spec = CATALOGUE.get(code)
        if spec is None:
            return self.t("error.unknown_code", code=code)
        return spec.zh if self.zh else spec.en

    def status(self, status: str) -> str:
        key = f"status.{status}"
        return self.t(key) if key in STRINGS else status

    def action(self, action: str) -> str:
        key = f"action.{action}"
        return self.t(key) if key in STRINGS else action

    def role(self, role: str) -> str:
        key = f"role.{role}"
        return self.t(key) if key in STRINGS else role

    def local(self, epoch: int | float) -> datetime:
        """The moment on the city's wall clock (not the clock of whatever machine runs the app)."""
        return datetime.fromtimestamp(epoch, self.zone())

    def when(self, epoch: int | float | None) -> str:
        """A date and time in the city, short."""
        if not epoch:
            return "—"
        return self.local(epoch).strftime("%m-%d %H:%M")

    def time_of_day(self, epoch: int | float) -> str:
        """A time in the city, to the second."""
        return self.local(epoch).strftime("%H:%M:%S")

    def ago(self, epoch: int | float, now: float) -> str:
        seconds = max(0, int(now - epoch))
        if seconds < 60:
            return self.t("time.just_now")
        if seconds < 3600:
            return self.t("time.minutes_ago", n=seconds // 60)
        if seconds < 86400:
            return self.t("time.hours_ago", n=seconds // 3600)
        return self.when(epoch)
