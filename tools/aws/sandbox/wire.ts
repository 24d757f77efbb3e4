/** Wire helpers shared by the sandbox's services: each AWS protocol's success and error shapes. */
import { randomUUID } from 'node:crypto';

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer | null;
}

export class AwsFault extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export const requestId = () => randomUUID();

export function xmlEscape(value: string | number | boolean): string {
  return String(value).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** `<tag>value</tag>` for each defined entry; arrays of strings are written by the caller. */
export function tags(entries: Record<string, string | number | boolean | undefined>): string {
  return Object.entries(entries)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k}>${xmlEscape(v!)}</${k}>`)
    .join('');
}

/** awsJson1_1 (ECS): the error type in `__type` and the x-amzn-errortype header. */
export function jsonProtocolReply(body: unknown, id = requestId()): Reply {
  return { status: 200, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': id }, body: JSON.stringify(body) };
}
export function jsonProtocolError(fault: AwsFault): Reply {
  return {
    status: fault.status,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId(), 'x-amzn-errortype': fault.code },
    body: JSON.stringify({ __type: fault.code, message: fault.message }),
  };
}

/** restJson1 (Lambda): the error type in the x-amzn-ErrorType header, `Type` and `Message` in the body. */
export function restJsonReply(body: unknown, status = 200): Reply {
  return { status, headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId() }, body: JSON.stringify(body) };
}
export function restJsonError(fault: AwsFault): Reply {
  return {
    status: fault.status,
    headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId(), 'x-amzn-errortype': `${fault.code}:` },
    body: JSON.stringify({ Type: fault.status >= 500 ? 'Service' : 'User', Message: fault.message, message: fault.message }),
  };
}

/** awsQuery (IAM): `<XResponse><XResult>…</XResult><ResponseMetadata>` and `<ErrorResponse>`. */
export function queryReply(action: string, result: string, namespace: string): Reply {
  const inner = result === '' ? '' : `<${action}Result>${result}</${action}Result>`;
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<${action}Response xmlns="${namespace}">${inner}<ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></${action}Response>`,
  };
}
export function queryError(fault: AwsFault, namespace: string): Reply {
  return {
    status: fault.status,
    headers: { 'content-type': 'text/xml' },
    body: `<ErrorResponse xmlns="${namespace}"><Error><Type>${fault.status >= 500 ? 'Receiver' : 'Sender'}</Type>` +
      `<Code>${xmlEscape(fault.code)}</Code><Message>${xmlEscape(fault.message)}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`,
  };
}

/** ec2Query: `<XResponse><requestId>` and `<Response><Errors>`. */
export function ec2Reply(action: string, inner: string): Reply {
  return {
    status: 200,
    headers: { 'content-type': 'text/xml;charset=UTF-8' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${requestId()}</requestId>${inner}</${action}Response>`,
  };
}
export function ec2Error(fault: AwsFault): Reply {
  return {
    status: fault.status,
    headers: { 'content-type': 'text/xml;charset=UTF-8' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlEscape(fault.code)}</Code><Message>${xmlEscape(fault.message)}</Message></Error></Errors><RequestID>${requestId()}</RequestID></Response>`,
  };
}

/** restXml (S3): `<Error><Code>`; HEAD errors carry no body. */
export function s3Error(fault: AwsFault, method: string, resource: string): Reply {
  const id = requestId();
  const headers = { 'content-type': 'application/xml', 'x-amz-request-id': id, 'x-amz-id-2': Buffer.from(id).toString('base64') };
  if (method === 'HEAD') return { status: fault.status, headers, body: null };
  return {
    status: fault.status,
    headers,
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(fault.code)}</Code><Message>${xmlEscape(fault.message)}</Message>` +
      `<Resource>${xmlEscape(resource)}</Resource><RequestId>${id}</RequestId></Error>`,
  };
}

/** Query-protocol lists: `Prefix.1`, `Prefix.2`, … (EC2 `InstanceId.N`, IAM `member.N`). */
export function listParam(params: URLSearchParams, prefix: string): string[] {
  const values: string[] = [];
  for (let i = 1; params.has(`${prefix}.${i}`); i++) values.push(params.get(`${prefix}.${i}`)!);
  return values;
}
