import { describe, expect, it } from 'vitest';
import { type MultipartLimits, RequestHandler } from '../../../src/web/index.js';
import { serveApp } from '../../support/servers.js';
import { problem } from './support.js';

class Form extends RequestHandler {
  override post(): void {
    const files: Record<string, { filename: string; contentType: string; body: string }[]> = {};
    for (const [name, list] of Object.entries(this.files)) {
      files[name] = list.map((f) => ({ ...f, body: f.body.toString('latin1') }));
    }
    this.write({
      fields: { ...this.bodyArguments },
      title: this.getArgument('title', ''),
      files,
    });
  }
}

const BOUNDARY = 'XyZ123boundary';
const MULTIPART = { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` };

function part(headers: string, body: string): string {
  return `--${BOUNDARY}\r\n${headers}\r\n\r\n${body}\r\n`;
}

async function post(body: FormData | string, settings: { multipart?: MultipartLimits } = {}) {
  const srv = await serveApp([['/', Form]], settings);
  return srv.fetch('/', {
    method: 'POST',
    body,
    ...(typeof body === 'string' ? { headers: MULTIPART } : {}),
  });
}

describe('multipart/form-data bodies', () => {
  it('fill bodyArguments and files', async () => {
    const form = new FormData();
    form.append('title', '  Holiday ');
    form.append('tag', 'a');
    form.append('tag', 'b');
    form.append('photo', new Blob(['\u00ff\u0000binary'], { type: 'image/png' }), 'beach.png');
    form.append('photo', new Blob(['second']), 'café ✓.txt');
    const res = await post(form);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      fields: { title: ['  Holiday '], tag: ['a', 'b'] },
      title: 'Holiday',
      files: {
        photo: [
          {
            filename: 'beach.png',
            contentType: 'image/png',
            body: Buffer.from('\u00ff\u0000binary').toString('latin1'),
          },
          { filename: 'café ✓.txt', contentType: 'application/octet-stream', body: 'second' },
        ],
      },
    });
  });

  it('keep only the last path segment of a file name', async () => {
    const body =
      part('Content-Disposition: form-data; name="f"; filename="../../etc/passwd"', 'x') +
      `--${BOUNDARY}--\r\n`;
    const res = await post(body);
    const json = (await res.json()) as { files: { f: { filename: string }[] } };
    expect(json.files.f[0]?.filename).toBe('passwd');
  });

  it('answer 413 for a file over maxFileBytes', async () => {
    const form = new FormData();
    form.append('f', new Blob(['0123456789A']), 'f.bin');
    const res = await post(form, { multipart: { maxFileBytes: 10 } });
    expect(res.status).toBe(413);
    expect((await problem(res)).detail).toBe('file f is larger than 10 bytes');
  });

  it('answer 413 for a field over maxFieldBytes', async () => {
    const form = new FormData();
    form.append('note', 'x'.repeat(11));
    const res = await post(form, { multipart: { maxFieldBytes: 10 } });
    expect(res.status).toBe(413);
    expect((await problem(res)).detail).toBe('field note is longer than 10 bytes');
  });

  it.each([
    ['parts', { maxParts: 2 }, 'more than 2 parts'],
    ['fields', { maxFields: 2 }, 'more than 2 fields'],
    ['files', { maxFiles: 1 }, 'more than 1 files'],
  ] as const)('answer 400 for too many %s', async (_, multipart, detail) => {
    const form = new FormData();
    form.append('a', '1');
    form.append('b', '2');
    form.append('c', '3');
    form.append('f1', new Blob(['x']), 'one');
    form.append('f2', new Blob(['y']), 'two');
    const res = await post(form, { multipart });
    expect(res.status).toBe(400);
    expect((await problem(res)).detail).toBe(`multipart body has ${detail}`);
  });

  it('answer 413 when the whole body passes maxBodyBytes', async () => {
    const srv = await serveApp([['/', Form]], { maxBodyBytes: 100 });
    const form = new FormData();
    form.append('f', new Blob(['x'.repeat(200)]), 'f');
    const res = await srv.fetch('/', { method: 'POST', body: form });
    expect(res.status).toBe(413);
  });

  it('answer 400 without a boundary', async () => {
    const srv = await serveApp([['/', Form]]);
    const res = await srv.fetch('/', {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data' },
      body: 'whatever',
    });
    expect(res.status).toBe(400);
    expect((await problem(res)).detail).toMatch(/^bad multipart body: .*[Bb]oundary/);
  });

  it('answer 400 for a truncated body', async () => {
    const res = await post(part('Content-Disposition: form-data; name="a"', 'value'));
    expect(res.status).toBe(400);
    expect((await problem(res)).detail).toBe('bad multipart body: Unexpected end of form');
  });

  it('answer 400 for a truncated file', async () => {
    const res = await post(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\npartial`,
    );
    expect(res.status).toBe(400);
    await problem(res);
  });

  it('answer 400 for malformed part headers', async () => {
    const res = await post(`--${BOUNDARY}\r\nthis is not a header\r\n\r\nx\r\n--${BOUNDARY}--\r\n`);
    expect(res.status).toBe(400);
  });

  it('leave files empty for other bodies', async () => {
    const srv = await serveApp([['/', Form]]);
    const res = await srv.fetch('/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'title=plain',
    });
    expect(await res.json()).toEqual({ fields: { title: ['plain'] }, title: 'plain', files: {} });
  });
});
