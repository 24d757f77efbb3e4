/** Input shapes shared by the AWS tools: names AWS accepts, checked before any call goes out. */
import { z } from 'zod';

export const clusterName = z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'an ECS cluster name: letters, digits, - and _').describe('ECS cluster name, e.g. production');
export const serviceName = z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'an ECS service name: letters, digits, - and _');
/** A container image reference: [registry/]repository[:tag][@sha256:digest], no whitespace. */
export const imageRef = z.string().max(512).regex(/^[a-z0-9][a-z0-9._\-/:]*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/, 'a container image like registry.example.com/web:1.4.2');
export const taskDefinitionRef = z.string().regex(/^(?:arn:aws:ecs:[a-z0-9-]+:\d{12}:task-definition\/)?[A-Za-z0-9_-]{1,255}:\d+$/, 'a task definition as family:revision (or its ARN)');
export const functionName = z.string().regex(/^(?:arn:aws:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}$/, 'a Lambda function name (or ARN)');
export const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name');
export const objectKey = z.string().min(1).max(1024);
export const roleName = z.string().regex(/^[\w+=,.@-]{1,64}$/, 'an IAM role name');
export const policyArn = z.string().regex(/^arn:aws:iam::(?:aws|\d{12}):policy\/[\w+=,.@/-]{1,512}$/, 'a managed policy ARN like arn:aws:iam::aws:policy/ReadOnlyAccess');
export const instanceId = z.string().regex(/^i-[0-9a-f]{8,17}$/, 'an EC2 instance id like i-0123456789abcdef0');

/** "47.1 KiB": sizes are computed from numbers, never upstream text. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
