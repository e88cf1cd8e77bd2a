//! Labels in Chinese and English. The language comes from the `lt_lang`
//! cookie (set by the switch in the header), else the browser's
//! `Accept-Language`, else Chinese.

use axum::http::HeaderMap;

/// The cookie remembering the chosen language.
pub const COOKIE: &str = "lt_lang";

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// `zh` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of the page.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// `zh` or `en`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The request's language.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(l) = crate::cookie_value(headers, COOKIE).and_then(|v| Lang::parse(&v)) {
            return l;
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        // The first language the browser names that we have.
        for part in accept.split(',') {
            let tag = part.split(';').next().unwrap_or_default().trim();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::Zh
    }

    /// The label `key` in this language (the key itself if it has none).
    pub fn t(self, key: &'static str) -> &'static str {
        match LABELS.iter().find(|(k, _, _)| *k == key) {
            Some((_, en, zh)) => match self {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => key,
        }
    }
}

/// (key, English, Chinese).
const LABELS: &[(&str, &str, &str)] = &[
    ("app", "lookthrough", "lookthrough 穿透式监管"),
    ("skip", "Skip to content", "跳到正文"),
    ("overview", "Overview", "概览"),
    ("chain", "Chain", "链"),
    ("chains", "Chains", "链"),
    ("all_chains", "all chains", "全部链"),
    ("switch_chain", "Show one chain or all", "切换显示的链"),
    ("group", "Group", "群组"),
    ("search", "Search", "检索"),
    ("alerts", "Alerts", "预警"),
    ("rules", "Rules", "规则"),
    ("sign_in", "Sign in", "登录"),
    ("sign_out", "Sign out", "退出"),
    ("token", "API token", "API 令牌"),
    (
        "token_help",
        "Paste the API token an administrator gave you (it starts with lt_).",
        "粘贴管理员发给您的 API 令牌（以 lt_ 开头）。",
    ),
    ("signed_in_as", "Signed in as", "当前用户"),
    ("role", "Role", "角色"),
    ("query", "Search text", "检索词"),
    (
        "query_help",
        "Words in Chinese or English; tantivy syntax (AND, OR, \"phrase\", field:value) for precise searches.",
        "中英文关键词；精确检索可用 tantivy 语法（AND、OR、\"短语\"、字段:值）。",
    ),
    ("from_date", "From (date)", "起始日期"),
    ("to_date", "To (date)", "截止日期"),
    ("min_amount", "Minimum amount", "最小金额"),
    ("max_amount", "Maximum amount", "最大金额"),
    ("party", "Party (address or id)", "当事方（地址或编号）"),
    ("privacy", "Privacy", "隐私类别"),
    ("any", "Any", "全部"),
    ("public", "Public", "公开"),
    ("private", "Private", "隐私"),
    ("rule_hit", "Rule hit", "命中规则"),
    ("sort", "Sort", "排序"),
    ("relevance", "Relevance", "相关度"),
    ("time", "Time", "时间"),
    ("amount", "Amount", "金额"),
    ("chain_order", "Chain order", "链上顺序"),
    ("apply", "Search", "检索"),
    ("results", "results", "条结果"),
    ("no_results", "No transaction matches.", "没有匹配的交易。"),
    ("next_page", "Next page", "下一页"),
    ("first_page", "First page", "第一页"),
    ("export_csv", "Export CSV", "导出 CSV"),
    ("hash", "Transaction", "交易"),
    ("height", "Height", "区块高度"),
    ("payer", "Payer", "付款方"),
    ("payee", "Payee", "收款方"),
    ("memo", "Memo", "附言"),
    ("match", "Match", "匹配内容"),
    ("withheld", "Withheld for your role", "您的角色无权查看"),
    (
        "withheld_payload",
        "The decrypted payload is withheld: your role may not read decrypted data.",
        "解密内容已隐藏：您的角色无权查看解密数据。",
    ),
    ("not_readable", "Not readable", "无法解读"),
    ("transaction", "Transaction", "交易详情"),
    ("block", "Block", "区块"),
    ("block_hash", "Block hash", "区块哈希"),
    ("sender", "Sender", "发送方"),
    ("contract", "Contract", "合约"),
    ("method", "Method", "方法"),
    ("envelope", "Envelope", "数字信封"),
    ("envelope_status", "Envelope status", "信封状态"),
    ("why", "Why", "原因"),
    ("payload", "Payload", "业务内容"),
    ("contract_call", "Contract call", "合约调用"),
    ("events", "Events", "事件"),
    ("raw_input", "Raw input (hex)", "原始输入（十六进制）"),
    (
        "no_call",
        "No contract call (a deployment, or no input).",
        "无合约调用（部署交易或无输入）。",
    ),
    (
        "withheld_call",
        "The decoded call of a private transaction is withheld: your role may not read decrypted data.",
        "隐私交易的解码调用已隐藏：您的角色无权查看解密数据。",
    ),
    ("argument", "Argument", "参数"),
    ("bytes", "bytes", "字节"),
    ("type", "Type", "类型"),
    ("value", "Value", "值"),
    (
        "UNKNOWN_CONTRACT",
        "No ABI for this contract yet",
        "尚无该合约的 ABI",
    ),
    (
        "UNKNOWN_SELECTOR",
        "Not in the contract's ABI",
        "不在合约 ABI 中",
    ),
    ("MALFORMED", "Does not decode", "无法解码"),
    ("scenario", "Scenario", "业务场景"),
    ("reference", "Reference", "业务编号"),
    ("currency", "Currency", "币种"),
    ("receipt", "Receipt", "回执"),
    ("succeeded", "Succeeded", "成功"),
    ("failed", "Failed", "失败"),
    ("rules_hit", "Rules hit", "命中规则"),
    ("none", "None", "无"),
    ("account", "Account", "账户"),
    ("transactions", "Transactions", "交易笔数"),
    ("first_seen", "First seen", "首次出现"),
    ("last_seen", "Last seen", "最近出现"),
    ("counterparties", "Counterparties", "交易对手"),
    ("count", "Count", "笔数"),
    ("volume", "Volume", "金额合计"),
    ("timeline", "Timeline", "时间线"),
    ("recent_transactions", "Recent transactions", "最近交易"),
    ("alert", "Alert", "预警"),
    ("state", "State", "状态"),
    ("severity", "Severity", "级别"),
    ("rule", "Rule", "规则"),
    ("assignee", "Assignee", "处理人"),
    ("opened", "Opened", "创建时间"),
    ("updated", "Updated", "更新时间"),
    ("filter", "Filter", "筛选"),
    ("all_states", "All states", "全部状态"),
    ("all_severities", "All severities", "全部级别"),
    ("OPEN", "Open", "待处理"),
    ("ACKNOWLEDGED", "Acknowledged", "已确认"),
    ("RESOLVED", "Resolved", "已解决"),
    ("DISMISSED", "Dismissed", "已排除"),
    ("INFO", "Info", "提示"),
    ("LOW", "Low", "低"),
    ("MEDIUM", "Medium", "中"),
    ("HIGH", "High", "高"),
    ("CRITICAL", "Critical", "严重"),
    ("no_alerts", "No alert matches.", "没有匹配的预警。"),
    ("acknowledge", "Acknowledge", "确认"),
    ("resolve", "Resolve", "解决"),
    ("dismiss", "Dismiss", "排除"),
    ("reopen", "Reopen", "重新打开"),
    ("assign", "Assign", "指派"),
    ("add_note", "Add note", "添加备注"),
    ("evidence_pack", "Download evidence pack", "下载证据包"),
    ("backtest", "Backtest", "回测"),
    (
        "backtest_new",
        "Backtest a new or changed rule on the stored history",
        "用已存历史回测新规则或修改后的规则",
    ),
    (
        "backtest_hint",
        "Runs the rule over the stored history as the live engine would, and shows what it would have opened; nothing is written or sent until you save it",
        "按实时引擎的方式在已存历史上运行规则，显示它本会产生的告警；保存之前不写入、不发送任何内容",
    ),
    (
        "rule_text",
        "Rule (TOML, one or more [[rule]] tables)",
        "规则（TOML，一个或多个 [[rule]] 表）",
    ),
    ("run_backtest", "Run backtest", "运行回测"),
    ("would_open", "What it would have opened", "本会产生的告警"),
    ("evaluated", "Blocks evaluated from", "回测区块时间"),
    (
        "live",
        "Live, as the rule in force has opened",
        "实时：现行规则已产生",
    ),
    (
        "new_rule",
        "a new rule: nothing live yet",
        "新规则：尚无实时数据",
    ),
    (
        "alerts_per_day",
        "Alerts it would have opened, per day",
        "每日本会产生的告警",
    ),
    (
        "save_rule",
        "Save as the rule's next version",
        "保存为规则的新版本",
    ),
    (
        "evidence_pack_hint",
        "One signed file with the block, proofs and decrypted content, checkable with `lookthrough evidence verify`; the download is in the audit log",
        "一个签名文件，含区块、证明和解密内容，可用 `lookthrough evidence verify` 校验；下载记入审计日志",
    ),
    ("note", "Note", "备注"),
    ("history", "History", "处理记录"),
    ("deliveries", "Notifications", "通知投递"),
    ("values", "Why it fired", "触发依据"),
    ("group_key", "Group key", "分组键"),
    ("matched_transactions", "Matched transactions", "命中交易"),
    ("actor", "Who", "操作人"),
    ("action", "Action", "操作"),
    ("detail", "Detail", "详情"),
    ("channel", "Channel", "渠道"),
    ("status", "Status", "状态"),
    ("enabled", "Enabled", "启用"),
    ("disabled", "Disabled", "停用"),
    ("hits", "Transactions matched", "命中交易数"),
    ("version", "Version", "版本"),
    ("source", "Source", "来源"),
    ("title", "Title", "标题"),
    ("sync", "Sync", "同步状态"),
    ("head", "Verified head", "已验证高度"),
    ("indexed", "Indexed", "已索引高度"),
    ("lag", "Index lag", "索引延迟"),
    ("findings", "Verification findings", "验证异常"),
    ("volume_over_time", "Transactions per day", "每日交易量"),
    ("volume_per_hour", "Transactions per hour", "每小时交易量"),
    ("alerts_per_rule", "Alerts per rule", "各规则预警数"),
    ("alerts_per_severity", "Alerts per severity", "各级别预警数"),
    ("envelope_statuses", "Envelope statuses", "信封状态分布"),
    ("check", "Check", "检查项"),
    ("endpoint", "Endpoint", "节点"),
    ("endpoints", "Endpoints", "接入节点"),
    ("latency_ms", "Latency (ms)", "延迟（毫秒）"),
    ("errors", "Errors", "错误"),
    ("healthy", "healthy", "正常"),
    ("slow", "slow", "缓慢"),
    ("failing", "failing", "故障"),
    ("benched", "benched", "暂停使用"),
    (
        "disk_fault",
        "Writing is paused: the disk cannot be written. Nothing new is stored, indexed or evaluated, and decrypted content is not shown (its reads cannot be audited) until it has room again; it then resumes by itself.",
        "写入已暂停：磁盘无法写入。在磁盘恢复可写之前，不存储、不索引、不评估新数据，也不显示解密内容（其读取无法写入审计日志）；恢复后自动继续。",
    ),
    ("at", "When", "时间"),
    ("not_found", "Not found", "未找到"),
    ("forbidden", "Not allowed", "无权操作"),
    ("error", "Something went wrong", "出错了"),
    (
        "csrf_refused",
        "This form has expired or did not come from this site; reload the page and try again.",
        "表单已失效或并非来自本站，请刷新页面后重试。",
    ),
    (
        "secure_cookies",
        "This server sends its sign-in cookies over HTTPS only, and this page came over plain HTTP, so signing in cannot work here. Use the HTTPS address, or, on a trusted network, set [api] secure_cookies = false.",
        "本服务器仅通过 HTTPS 发送登录 Cookie，而本页面经由普通 HTTP 打开，因此无法登录。请使用 HTTPS 地址；如在可信网络中，可设置 [api] secure_cookies = false。",
    ),
    ("bad_token", "That token was not accepted", "令牌无效"),
    ("language", "中文", "English"),
    ("previous", "Previous", "上一页"),
    ("more", "more", "更多"),
    ("of", "of", "共"),
    ("unlisted", "more not listed", "笔未列出"),
    ("done", "Saved.", "已保存。"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_has_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::HashSet::new();
        for (k, en, zh) in LABELS {
            assert!(keys.insert(*k), "{k} twice");
            assert!(!en.is_empty() && !zh.is_empty(), "{k}");
        }
        assert_eq!(Lang::Zh.t("alerts"), "预警");
        assert_eq!(Lang::En.t("alerts"), "Alerts");
    }

    #[test]
    fn the_language_follows_the_cookie_then_the_browser() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::of(&h), Lang::Zh);
        h.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            "en-US,en;q=0.9,zh;q=0.8"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(Lang::of(&h), Lang::En);
        h.insert(
            axum::http::header::COOKIE,
            "lt_lang=zh".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(Lang::of(&h), Lang::Zh);
    }
}
