"""The console's words in Chinese and English. The language comes from the `lang`
cookie (the switch on every page), else the browser's Accept-Language, else Chinese."""

from __future__ import annotations

LANGUAGES = ("zh", "en")
WORDS: dict[str, tuple[str, str]] = {  # key: (zh, en)
    "title": ("工单台", "ticketflow console"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "role": ("角色", "Role"),
    "local_mode": (
        "本机模式:未配置 --auth,按所填姓名和角色操作,仅限本机访问。",
        "Local mode: no --auth file; you act as the name and role you give, on this machine only.",
    ),
    "bad_credentials": ("用户名或密码不正确。", "Unknown user or wrong password."),
    "no_console": ("渠道账号不能登录工单台。", "Channel accounts cannot sign in to the console."),
    "too_many": ("尝试次数过多,请一分钟后再试。", "Too many attempts; try again in a minute."),
    "board": ("工单看板", "Queue and SLA board"),
    "open": ("未结", "Open"),
    "unassigned": ("未分派", "Unassigned"),
    "at_risk": ("即将超时", "At risk"),
    "breached": ("已超时", "Breached"),
    "on_track": ("正常", "On track"),
    "pending": ("未开始", "Pending"),
    "met": ("已达成", "Met"),
    "number": ("工单号", "Number"),
    "type": ("类型", "Type"),
    "priority": ("优先级", "Priority"),
    "assignee": ("处理人", "Assignee"),
    "status": ("状态", "Status"),
    "next_target": ("下一个时限", "Next target"),
    "due": ("到期", "Due"),
    "state": ("时效状态", "SLA state"),
    "nothing_open": ("没有未结工单。", "No open tickets."),
    # the ticket page: contact, attachments, links
    "erased": ("个人信息已删除", "personal data erased"),
    "reveal_contact": ("查看完整联系方式", "Reveal contact"),
    "reveal_reason": ("查看原因(记入处理记录)", "Why (recorded in the history)"),
    "contact_revealed": ("完整联系方式(已记录本次查看)", "Contact (this look is recorded)"),
    "attachments": ("附件", "Attachments"),
    "candidates": ("建议处理人", "Proposed assignees"),
    "linked": ("关联工单", "Linked tickets"),
    # the board's filters, counts and keys
    "breached_open": ("超时仍未处理", "Breached, still running"),
    "breached_any": ("曾超时(含已补救)", "Missed a target (any)"),
    "summary": ("诉求首行", "Request (first line)"),
    "impact": ("影响范围", "Impact"),
    "channel": ("渠道", "Channel"),
    "mine": ("我的", "Mine"),
    "my_team": ("我的团队", "My team"),
    "any": ("全部", "any"),
    "filter": ("筛选", "Filter"),
    "clear_filters": ("清除筛选", "Clear filters"),
    "paused": ("已暂停", "paused"),
    "no_target": ("无进行中时限", "no running target"),
    "shown_of": ("显示 {shown} / 共 {total} 张", "{shown} of {total} shown"),
    "keyboard": (
        "键盘:j/k 或 ↑/↓ 选择,Enter 打开,/ 筛选",
        "Keys: j/k or ↑/↓ to move, Enter to open, / to filter",
    ),
    "request": ("客户诉求", "The request"),
    "customer": ("客户", "Customer"),
    "classification": ("分类", "Classification"),
    "category": ("类别", "Category"),
    "sla": ("服务时限", "SLA targets"),
    "target": ("时限", "Target"),
    "timeline": ("处理记录", "Timeline"),
    "verified": ("历史校验通过", "History verified"),
    "not_verified": ("历史校验失败(可能被篡改)", "History does NOT verify (tampered?)"),
    "as_of": ("查看历史版本", "As of version"),
    "latest": ("最新", "latest"),
    "viewing_version": ("正在查看第 {v} 版(只读)", "Viewing version {v} (read-only)"),
    "actions": ("操作", "Actions"),
    "assign": ("分派", "Assign"),
    "acknowledge": ("确认接单", "Acknowledge"),
    "post_update": ("进展更新", "Post an update"),
    "note": ("内容", "Note"),
    "visibility": ("可见范围", "Visibility"),
    "internal": ("内部", "internal"),
    "customer_visible": ("客户可见", "customer"),
    "close": ("结案", "Close"),
    "resolution": ("处理结果", "Resolution"),
    "done": ("已完成。", "Done."),
    "escalate": ("升级", "Escalate"),
    "level": ("升级至", "To"),
    "reason": ("原因", "Reason"),
    "reclassify": ("重新分类", "Reclassify"),
    "reopen": ("重新打开", "Reopen"),
    "follow_up": ("回访", "Follow up"),
    "next_step": ("下一步", "Next step"),
    "waiting": ("等待客户回复(暂停计时)", "Waiting on the customer (the clock pauses)"),
    "keep": ("不变", "unchanged"),
    "conflict": (
        "别人刚刚修改了这张工单,页面已刷新,请确认后重试。",
        "Someone else changed this ticket; the page shows it now. Check and try again.",
    ),
    "version": ("版本", "Version"),
    "when": ("时间", "When"),
    "who": ("操作人", "Who"),
    "what": ("内容", "What"),
    "back": ("返回看板", "Back to the board"),
    "language": ("English", "中文"),
}


def pick(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


def words(lang: str) -> dict[str, str]:
    index = LANGUAGES.index(lang)
    return {key: pair[index] for key, pair in WORDS.items()}
