/**
 * The build context filter: what `.dockerignore` keeps on the host, with
 * Docker's pattern rules, and the tar stream that goes to POST /build.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extract } from 'tar-stream';
import { contextEntries, contextFilter, packBuildContext } from '../../activities/build-context';

const created: string[] = [];
after(() => created.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function context(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secure-ctx-'));
  created.push(dir);
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

async function tarEntries(stream: NodeJS.ReadableStream): Promise<{ name: string; type: string; uid: number; gid: number; body: string }[]> {
  const found: { name: string; type: string; uid: number; gid: number; body: string }[] = [];
  const ex = extract();
  ex.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c) => chunks.push(c as Buffer));
    body.on('end', () => {
      found.push({ name: header.name, type: header.type, uid: header.uid, gid: header.gid, body: Buffer.concat(chunks).toString() });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
    stream.on('error', reject);
    stream.pipe(ex as unknown as NodeJS.WritableStream);
  });
  return found;
}

describe('build context filter (.dockerignore)', () => {
  it('follows Docker\'s pattern rules', () => {
    const filter = contextFilter(
      [
        '# comment: secret.txt stays',
        '.env',
        'node_modules',
        '**/*.key',
        '/logs',
        '*.md',
        '!README.md',
        'config/prod.yml',
        '  spaced.txt  ',
        'build/',
      ].join('\n'),
      'Dockerfile',
    );
    const excluded = (p: string) => filter.excludes(p);
    assert.equal(excluded('secret.txt'), false, 'a comment line excludes nothing');
    assert.equal(excluded('.env'), true);
    assert.equal(excluded('sub/.env'), false, 'a pattern without ** is anchored at the context root');
    assert.equal(excluded('node_modules'), true);
    assert.equal(excluded('node_modules/left-pad/index.js'), true, 'a directory pattern excludes everything under it');
    assert.equal(excluded('tls.key'), true);
    assert.equal(excluded('a/b/tls.key'), true, '** crosses directories');
    assert.equal(excluded('logs/today.log'), true, 'a leading / means the context root');
    assert.equal(excluded('CHANGES.md'), true);
    assert.equal(excluded('README.md'), false, 'the last matching line wins: the exception brings it back');
    assert.equal(excluded('docs/CHANGES.md'), false, '* does not cross a /');
    assert.equal(excluded('config/prod.yml'), true, 'a nested path without wildcards');
    assert.equal(excluded('config/dev.yml'), false);
    assert.equal(excluded('spaced.txt'), true, 'surrounding spaces are trimmed');
    assert.equal(excluded('build/out.js'), true, 'a trailing / still names the directory');
  });

  it('always sends the Dockerfile and .dockerignore, whatever the file says', () => {
    const filter = contextFilter('*\n**\n', 'docker/app.Dockerfile');
    assert.equal(filter.excludes('anything'), true);
    assert.equal(filter.excludes('.dockerignore'), false);
    assert.equal(filter.excludes('docker/app.Dockerfile'), false);
    assert.equal(filter.mayIncludeUnder('docker'), true, 'the walk enters the excluded directory that holds the Dockerfile');
    assert.equal(filter.mayIncludeUnder('node_modules'), false);
  });

  it('lists what a context sends: .env, node_modules and nested ignored paths stay behind, exceptions come back', () => {
    const dir = context({
      Dockerfile: 'FROM scratch\n',
      '.dockerignore': '.env\nnode_modules\nconfig/secret.yml\n**/*.pem\napp\n!app/main.js\n',
      '.env': 'API_KEY=s3cret\n',
      'node_modules/dep/index.js': 'x',
      'config/secret.yml': 'password: s3cret\n',
      'config/public.yml': 'ok: true\n',
      'deep/er/cert.pem': 'pem',
      'app/main.js': 'main',
      'app/debug.js': 'debug',
      'src/index.js': 'index',
    });
    assert.deepEqual(contextEntries(dir, 'Dockerfile'), ['.dockerignore', 'Dockerfile', 'app/main.js', 'config', 'config/public.yml', 'deep', 'deep/er', 'src', 'src/index.js']);
  });

  it('without .dockerignore sends everything', () => {
    const dir = context({ Dockerfile: 'FROM scratch\n', '.env': 'A=1\n', 'sub/x': 'x' });
    assert.deepEqual(contextEntries(dir, 'Dockerfile'), ['.env', 'Dockerfile', 'sub', 'sub/x']);
  });

  it('prefers <Dockerfile>.dockerignore next to the Dockerfile over .dockerignore', () => {
    const dir = context({
      'docker/web.Dockerfile': 'FROM scratch\n',
      'docker/web.Dockerfile.dockerignore': 'secrets\n',
      '.dockerignore': 'public\n',
      'secrets/token': 't',
      'public/index.html': 'hi',
    });
    const entries = contextEntries(dir, 'docker/web.Dockerfile');
    assert.ok(!entries.includes('secrets/token'), entries.join(' '));
    assert.ok(entries.includes('public/index.html'), 'the context-wide .dockerignore does not apply');
  });

  it('sends a symbolic link as a link and never follows it out of the context', () => {
    const outside = context({ 'private/id_rsa': 'key' });
    const dir = context({ Dockerfile: 'FROM scratch\n' });
    fs.symlinkSync(path.join(outside, 'private'), path.join(dir, 'link'));
    assert.deepEqual(contextEntries(dir, 'Dockerfile'), ['Dockerfile', 'link']);
  });

  it('packs exactly the listed entries, owned by root, with their content', async () => {
    const dir = context({ Dockerfile: 'FROM scratch\n', '.dockerignore': '.env\nnode_modules\n', '.env': 'API_KEY=s3cret\n', 'node_modules/a.js': 'a', 'app.js': 'app' });
    const entries = await tarEntries(packBuildContext(dir, 'Dockerfile'));
    assert.deepEqual(entries.map((e) => e.name), ['.dockerignore', 'Dockerfile', 'app.js']);
    assert.ok(entries.every((e) => e.uid === 0 && e.gid === 0));
    assert.equal(entries.find((e) => e.name === 'app.js')?.body, 'app');
    assert.ok(!entries.some((e) => e.body.includes('s3cret')));
  });
});
