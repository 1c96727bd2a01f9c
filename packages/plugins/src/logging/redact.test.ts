import { describe, expect, it } from 'vitest';
import { redactAndTruncate, redactSecrets } from './redact.js';

describe('redactSecrets', () => {
  it.each([
    ["CREATE ROLE app LOGIN PASSWORD 's3cr''et'", "CREATE ROLE app LOGIN PASSWORD '***'"],
    ["ALTER USER bob WITH ENCRYPTED PASSWORD 'md5abc'", "ALTER USER bob WITH ENCRYPTED PASSWORD '***'"],
    ["alter user bob password E'a\\'b'", "alter user bob password E'***'"],
    ['ALTER ROLE r PASSWORD $pw$x;y$pw$', 'ALTER ROLE r PASSWORD $pw$***$pw$'],
    ["CREATE USER u PASSWORD = 'Abc123!'", "CREATE USER u PASSWORD = '***'"],
    ["CREATE USER 'u'@'%' IDENTIFIED BY 'hunter2'", "CREATE USER 'u'@'%' IDENTIFIED BY '***'"],
    [
      "SELECT dblink_connect('host=db user=etl password=p@ss dbname=x')",
      "SELECT dblink_connect('host=db user=etl password=*** dbname=x')",
    ],
    ['postgres://etl:Sup3r$ecret@db.example.com:5432/app', 'postgres://etl:***@db.example.com:5432/app'],
    [
      "COPY INTO t FROM 's3://b/p' CREDENTIALS = (AWS_KEY_ID = 'AKIA' AWS_SECRET_KEY = 'wJalr')",
      "COPY INTO t FROM 's3://b/p' CREDENTIALS = (AWS_KEY_ID = 'AKIA' AWS_SECRET_KEY = '***')",
    ],
    ['https://api/x?token=abc.def&x=1', 'https://api/x?token=***&x=1'],
    ['Authorization: Bearer eyJhbGciOi.x.y', 'Authorization: Bearer ***'],
    ['{"password": "pw", "user": "u"}', '{"password": "***", "user": "u"}'],
    ["UPDATE users SET api_key = 'k-123' WHERE id = 1", "UPDATE users SET api_key = '***' WHERE id = 1"],
  ])('%s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it('leaves ordinary SQL alone', () => {
    for (const sql of [
      'INSERT INTO users (id, password_hash, token_count) VALUES (1, $1, 2)',
      'SELECT password FROM users',
      'ALTER USER bob PASSWORD NULL',
      'CREATE TABLE t (password text, token text)',
      "INSERT INTO t (a) VALUES ('passwords are long')",
    ]) {
      expect(redactSecrets(sql)).toBe(sql);
    }
  });

  it('redacts an unterminated secret to the end', () => {
    expect(redactSecrets("ALTER ROLE x PASSWORD 'abc")).toBe("ALTER ROLE x PASSWORD '***");
  });
});

describe('redactAndTruncate', () => {
  it('truncates and says how much was cut', () => {
    const sql = `INSERT INTO t VALUES ${'(1),'.repeat(100)}(1)`;
    const out = redactAndTruncate(sql, 30);
    expect(out).toBe(`${sql.slice(0, 30)}… [${sql.length - 30} more characters]`);
  });

  it('does not leak a secret that straddles the cut', () => {
    const secret = 'x'.repeat(50);
    const out = redactAndTruncate(`CREATE ROLE r PASSWORD '${secret}'`, 30);
    expect(out).not.toContain('xxxx');
    expect(out.startsWith("CREATE ROLE r PASSWORD '***'")).toBe(true);
  });
});
