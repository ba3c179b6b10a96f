// The demo portal: submit a petition, show the receipt, track the case, over gRPC-Web. Calls
// go to the page's own origin (the gateway that served it), or, for a copy of these files on
// a portal's own origin, to the gateway its <meta name="minhu-endpoint"> names (that origin
// must then be in the gateway's [web] allow_origins).

import { CODE_NAMES, GrpcError, unary } from "./grpc-web.js";
import {
  decodeSubmitResponse,
  decodeTrackResponse,
  encodeSubmitRequest,
  encodeTrackRequest,
} from "./protobuf.js";

const SUBMIT = "/minhu.v1.IntakeService/Submit";
const TRACK = "/minhu.v1.IntakeService/Track";

const STATUS = {
  0: "未知",
  1: "已受理（待分类分派）",
  2: "已交办",
  3: "重复件（已并入原件办理）",
  4: "待中心分派",
  5: "办理中（已签收）",
  6: "已退单（中心重新分派）",
  7: "已答复",
  8: "已办结",
  9: "已并单",
};

// The clock's milestones (services/clock/src/policy.rs), in the petitioner's words.
const MILESTONES = {
  sign_for: "签收",
  first_contact: "联系信访人",
  acceptance_notice: "告知是否受理",
  objection_window: "退单异议期",
  reply: "答复",
  resolution: "办结",
  review: "复查",
  re_review: "复核",
  handling: "办理",
};

// What a person should do about each failure.
const ADVICE = {
  3: "填写有误，请按提示修改后再提交。",
  5: "没有找到：请核对受理编号和查询码。",
  6: "这个编号已用于另一件不同的事项。",
  8: "请求过于频繁，请稍后再试。",
  14: "服务暂不可用，请稍后重试（重复提交不会重复登记）。",
  16: "渠道令牌无效，请检查令牌。",
};

// Field paths in BadRequest violations → the form's inputs and their labels.
const FIELDS = {
  "petition.title": ["title", "标题"],
  "petition.body": ["body", "诉求内容"],
  "petition.petitioner.phone": ["phone", "联系电话"],
  "petition.location.address": ["address", "事发地址"],
  tracking_number: ["track-number", "受理编号"],
  query_code: ["track-code", "查询码"],
};

const $ = (id) => document.getElementById(id);

const endpoint = document.querySelector('meta[name="minhu-endpoint"]')?.content || location.origin;

const formatTime = (date) =>
  date ? date.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "—";

// One id per petition as typed: a second click (or a retry after a network error) sends the
// same id and gets the original receipt back; editing the petition makes it a new one.
let channelMessageId = null;

function newMessageId() {
  if (crypto.randomUUID) return `web-${crypto.randomUUID()}`;
  // Pages on plain http:// other than localhost are not a secure context: no randomUUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
  for (const [input] of Object.values(FIELDS)) $(input).removeAttribute("aria-invalid");
}

function showError(error) {
  const box = $("error");
  const title = document.createElement("p");
  title.className = "error-title";
  if (error instanceof GrpcError) {
    title.textContent = `${CODE_NAMES[error.code] ?? error.code}（${error.code}）：${error.grpcMessage}`;
    box.replaceChildren(title);
    const advice = ADVICE[error.code];
    if (advice) {
      const p = document.createElement("p");
      p.textContent = advice;
      box.append(p);
    }
    if (error.violations.length > 0) {
      const list = document.createElement("ul");
      list.id = "violations";
      for (const v of error.violations) {
        const item = document.createElement("li");
        const [input, label] = FIELDS[v.field] ?? [null, v.field];
        item.textContent = `${label}（${v.field}）：${v.description}`;
        item.dataset.field = v.field;
        list.append(item);
        if (input) $(input).setAttribute("aria-invalid", "true");
      }
      box.append(list);
    }
    if (error.retryAfterMs !== null) {
      const p = document.createElement("p");
      p.textContent = `请在 ${Math.ceil(error.retryAfterMs / 1000)} 秒后重试。`;
      box.append(p);
    }
  } else {
    title.textContent = `出错了：${error.message}`;
    box.replaceChildren(title);
  }
  box.hidden = false;
}

function token() {
  return $("token").value.trim();
}

async function submit(event) {
  event.preventDefault();
  clearError();
  channelMessageId ??= newMessageId();
  const button = $("submit");
  button.disabled = true;
  try {
    const request = encodeSubmitRequest({
      channelMessageId,
      title: $("title").value.trim(),
      body: $("body").value.trim(),
      phone: $("phone").value.trim(),
      address: $("address").value.trim(),
    });
    const bytes = await unary(endpoint, SUBMIT, request, { token: token() });
    const { receipt } = decodeSubmitResponse(bytes);
    $("tracking-number").textContent = receipt.trackingNumber;
    $("query-code").textContent = receipt.queryCode;
    $("accepted-at").textContent = formatTime(receipt.acceptedAt);
    $("replayed").hidden = !receipt.replayed;
    $("receipt").hidden = false;
    $("track-number").value = receipt.trackingNumber;
    $("track-code").value = receipt.queryCode;
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

function listItem(text) {
  const item = document.createElement("li");
  item.textContent = text;
  return item;
}

async function track(event) {
  event?.preventDefault();
  clearError();
  const button = $("track-button");
  button.disabled = true;
  try {
    const request = encodeTrackRequest({
      trackingNumber: $("track-number").value.trim(),
      queryCode: $("track-code").value.trim(),
    });
    const bytes = await unary(endpoint, TRACK, request, { token: token() });
    const t = decodeTrackResponse(bytes);
    $("track-tracking-number").textContent = t.trackingNumber;
    $("track-status").textContent = STATUS[t.status] ?? String(t.status);
    $("track-status").dataset.status = String(t.status);
    $("track-category").textContent = t.category || "分类中";
    $("track-unit").textContent = t.unit ? `${t.unit.name}（${t.unit.id}）` : "尚未分派";
    $("track-accepted-at").textContent = formatTime(t.acceptedAt);
    const duplicate = $("track-duplicate");
    duplicate.hidden = !t.duplicateOf;
    duplicate.textContent = t.duplicateOf
      ? `同一事项由 ${t.duplicateOf} 办理，当前状态：${STATUS[t.originalStatus] ?? t.originalStatus}`
      : "";
    $("track-guidance").hidden = !t.guidance;
    $("track-guidance").textContent = t.guidance;
    $("track-reply").hidden = !t.reply;
    $("track-reply").querySelector("p").textContent = t.reply;
    $("track-deadlines").replaceChildren(
      ...t.deadlines.map((d) =>
        listItem(
          d.suspended
            ? `${MILESTONES[d.milestone] ?? d.milestone}：已中止计时（${d.basis}）`
            : `${MILESTONES[d.milestone] ?? d.milestone}：${formatTime(d.dueAt)} 前（${d.basis}）`,
        ),
      ),
    );
    $("track-history").replaceChildren(
      ...t.history.map((h) => listItem(`${formatTime(h.at)} ${STATUS[h.status] ?? h.status} ${h.note}`)),
    );
    $("track-result").hidden = false;
  } catch (error) {
    $("track-result").hidden = true;
    showError(error);
  } finally {
    button.disabled = false;
  }
}

$("petition").addEventListener("submit", submit);
for (const input of ["title", "body", "phone", "address"]) {
  $(input).addEventListener("input", () => {
    channelMessageId = null;
  });
}
$("track-form").addEventListener("submit", track);
$("track").addEventListener("click", track);
document.body.dataset.ready = "true";
