/**
 * Reason codes of decisions and what the person and the staff are told.
 * Codes are stable (events, tests and the screen switch on them); the texts
 * follow the rules (rules §3, §4).
 */
export const REASONS = {
  'green-normal': { zh: '绿码，体温正常，请通行', en: 'Green code, normal temperature: please pass' },
  fever: { zh: '体温异常，请等待工作人员复测', en: 'Temperature above the limit: please wait for staff' },
  yellow: {
    zh: '黄码，禁止进入。请立即向所在社区报告，并按要求检测和自我健康监测',
    en: 'Yellow code: entry refused. Report to your community at once, get tested and self-monitor',
  },
  red: {
    zh: '红码，请在原地等候，工作人员马上到达',
    en: 'Red code: please wait here, staff are on their way',
  },
  'no-code': {
    zh: '未出示健康码，请联系工作人员登记',
    en: 'No health code: please ask staff to register you',
  },
  'staff-registered': {
    zh: '已人工登记，请通行。请尽快申领健康码，下次出示',
    en: 'Registered by staff: please pass. Apply for a health code and show it next time',
  },
  'sensor-fault': {
    zh: '测温设备故障，请等待工作人员人工测温',
    en: 'Thermometer out of order: please wait for staff to take your temperature',
  },
  'status-unknown': {
    zh: '无法确认码色，请联系工作人员',
    en: 'Colour could not be confirmed: please ask staff',
  },
  'not-a-health-code': {
    zh: '此二维码不是健康码，请出示健康码',
    en: 'This QR code is not a health code: please show your health code',
  },
  'code-expired': {
    zh: '健康码已过期（请勿使用截图），请刷新后重新出示',
    en: 'Health code expired (screenshots are not accepted): refresh it and show it again',
  },
  'code-not-yet-valid': {
    zh: '健康码时间异常，请刷新后重新出示',
    en: 'Health code time is wrong: refresh it and show it again',
  },
  'code-forged': {
    zh: '健康码验证失败，请联系工作人员',
    en: 'Health code failed verification: please ask staff',
  },
  'code-unknown-issuer': {
    zh: '健康码签发机构无法识别，请联系工作人员',
    en: 'Health code issuer not recognised: please ask staff',
  },
  'code-unreadable': {
    zh: '无法识别二维码，请重新出示',
    en: 'QR code could not be read: please show it again',
  },
  'code-invalid': {
    zh: '健康码内容无效，请联系工作人员',
    en: 'Health code content is invalid: please ask staff',
  },
  degraded: {
    zh: '闸机暂时无法与健康码平台同步，不能自动放行，请等待工作人员核验',
    en: 'The gate cannot reach the health-code platform: no automatic entry, please wait for staff to check your code',
  },
  'id-card-unreadable': {
    zh: '无法识别身份证，请重新刷卡或联系工作人员',
    en: 'ID card could not be read: swipe again or ask staff',
  },
  'id-card-not-supported': {
    zh: '本闸机暂不支持刷身份证，请联系工作人员',
    en: 'This gate is not set up for ID cards: please ask staff',
  },
  'id-lookup-failed': {
    zh: '无法查询码色，请等待工作人员核验',
    en: 'Colour could not be looked up: please wait for staff',
  },
  'remote-open': {
    zh: '工作人员已远程开闸，请通行',
    en: 'Opened by staff at the control centre: please pass',
  },
} as const;

export type Reason = keyof typeof REASONS;

/** What staff must do after a decision; null when nothing. */
export type StaffAction =
  | 'isolate-and-notify' // red: hold the person, call epidemic control (rules §4.4)
  | 'recheck-temperature' // fever with a green code
  | 'register' // no code: register by hand (rules §4)
  | 'manual-temperature' // thermometer fault: staff mode
  | 'check-credential' // forged, unknown issuer, unverifiable colour
  | 'verify-colour' // gate cut off from the centre, or an ID card's colour not looked up: staff confirm the colour another way
  | null;
