import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redactAndTruncate, redactMessage, redactSecrets } from './redact.js';

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
    ["SELECT dblink('postgres://u:p;w''d@h/db', 'x')", "SELECT dblink('postgres://u:***@h/db', 'x')"],
    [
      "COPY INTO t FROM 's3://b/p' CREDENTIALS = (AWS_KEY_ID = 'AKIA' AWS_SECRET_KEY = 'wJalr')",
      "COPY INTO t FROM 's3://b/p' CREDENTIALS = (AWS_KEY_ID = 'AKIA' AWS_SECRET_KEY = '***')",
    ],
    ['https://api/x?token=abc.def&x=1', 'https://api/x?token=***&x=1'],
    ['Authorization: Bearer eyJhbGciOi.x.y', 'Authorization: Bearer ***'],
    ['{"password": "pw", "user": "u"}', '{"password": "***", "user": "u"}'],
    ["UPDATE users SET api_key = 'k-123' WHERE id = 1", "UPDATE users SET api_key = '***' WHERE id = 1"],
    // found by a review: each of these logged the secret
    ['CREATE USER u IDENTIFIED BY Sx7pass', 'CREATE USER u IDENTIFIED BY ***'],
    // (the hash after BY PASSWORD / BY VALUES, not the word: found in review)
    [
      "CREATE USER 'u'@'h' IDENTIFIED BY PASSWORD '*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9'",
      "CREATE USER 'u'@'h' IDENTIFIED BY PASSWORD '***'",
    ],
    ["ALTER USER u IDENTIFIED BY VALUES 'S:ABC123'", "ALTER USER u IDENTIFIED BY VALUES '***'"],
    [
      "OPTIONS (sslkey '-----BEGIN PRIVATE KEY-----MIIEv\nQIBADAN-----END PRIVATE KEY-----')",
      "OPTIONS (sslkey '-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----')",
    ],
    [
      "LOCATION 'abfss://c@a.dfs.core.windows.net/?sv=2020-08-04&sig=Sx35abc%3D'",
      "LOCATION 'abfss://c@a.dfs.core.windows.net/?sv=2020-08-04&sig=***'",
    ],
    ['https://s3/b/k?X-Amz-Signature=abc123&X-Amz-Date=1', 'https://s3/b/k?X-Amz-Signature=***&X-Amz-Date=1'],
    ["ALTER ROLE r PASSWORD U&'s3cret'", "ALTER ROLE r PASSWORD U&'***'"],
    ["CREATE ROLE r /* c */ PASSWORD /* c */ 's3cret'", "CREATE ROLE r /* c */ PASSWORD /* c */ '***'"],
    ["CREATE ROLE r PASSWORD--c\n's3cret'", "CREATE ROLE r PASSWORD--c\n'***'"],
    [
      "SELECT dblink_connect('host=h password=''s3 cret'' dbname=d')",
      "SELECT dblink_connect('host=h password=''***'' dbname=d')",
    ],
    [
      "SELECT * FROM dblink('user=u sslpassword=s3cret', 'x')",
      "SELECT * FROM dblink('user=u sslpassword=***', 'x')",
    ],
    [
      "SELECT dblink_connect('postgresql://u:p@ss3cret@host/db')",
      "SELECT dblink_connect('postgresql://u:***@host/db')",
    ],
    [
      "SELECT dblink_connect('postgresql://u:s3/cret@host/db')",
      "SELECT dblink_connect('postgresql://u:***@host/db')",
    ],
    [
      "SELECT dblink_connect('postgresql://u:s3 cret@host/db')",
      "SELECT dblink_connect('postgresql://u:***@host/db')",
    ],
    ["SET PASSWORD FOR 'u'@'h' = 's3cret'", "SET PASSWORD FOR 'u'@'h' = '***'"],
    ["SET PASSWORD = PASSWORD('s3cret')", "SET PASSWORD = PASSWORD('***')"],
    [
      "CREATE USER u IDENTIFIED WITH mysql_native_password BY 's3cret'",
      "CREATE USER u IDENTIFIED WITH mysql_native_password BY '***'",
    ],
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

describe('redactSecrets (property)', () => {
  // Secrets of 6+ characters from a recognisable alphabet (so "not in the output" is meaningful).
  const secret = fc
    .string({ unit: fc.constantFrom(...'Zq9$x\'"\\;@:/ #%-_'.split('')), minLength: 6, maxLength: 30 })
    .filter((s) => /[Zq9x]{2}/.test(s));
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  it('never lets a quoted password literal through, whatever it contains', () => {
    fc.assert(
      fc.property(
        secret,
        fc.constantFrom(
          'CREATE ROLE r LOGIN PASSWORD ',
          'ALTER USER u WITH ENCRYPTED PASSWORD ',
          'CREATE USER x PASSWORD = ',
          "CREATE USER 'a'@'%' IDENTIFIED BY ",
        ),
        fc.nat(3),
        (s, head, pad) => {
          const sql = `${head}${lit(s)}${' '.repeat(pad)}VALID UNTIL 'infinity'`;
          const out = redactSecrets(sql);
          expect(out).not.toContain(s);
          // A backslash may be read as an escape (E'…', MySQL): then more is redacted, never less.
          if (!s.includes('\\')) {
            expect(out).toContain("'***'");
            expect(out.endsWith("VALID UNTIL 'infinity'")).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
  it('never lets a URL password through', () => {
    const userinfo = fc
      .string({ unit: fc.constantFrom(...'Zq9x%-_.~!$&()*+,;='.split('')), minLength: 6, maxLength: 20 })
      .filter((s) => /[Zq9x]{2}/.test(s));
    fc.assert(
      fc.property(userinfo, (pw) => {
        const out = redactSecrets(`SELECT dblink('postgres://etl:${pw}@db:5432/app', 'SELECT 1')`);
        expect(out).toContain('postgres://etl:***@db:5432/app');
        expect(out).not.toContain(pw);
      }),
      { numRuns: 300 },
    );
  });
});

describe('redactMessage', () => {
  it("masks the message's own credentials and every credential of the statement quoted in it (found in review)", () => {
    expect(
      redactMessage('invalid input syntax for type integer: "postgres://bob:Sup3rSecretC@host/db"'),
    ).toBe('invalid input syntax for type integer: "postgres://bob:***@host/db"');
    expect(redactMessage('invalid input syntax for type integer: "host=x password=Sup3rSecretD"')).toBe(
      'invalid input syntax for type integer: "host=x password=***"',
    );
    const sql = 'CREATE ROLE u LOGIN PASSWORD "Sup3rSecretA"';
    expect(redactMessage('syntax error at or near ""Sup3rSecretA""', sql)).toBe(
      'syntax error at or near ""***""',
    );
    // (nothing to mask: the message as it is)
    expect(redactMessage('relation "t" does not exist', 'INSERT INTO t VALUES (1)')).toBe(
      'relation "t" does not exist',
    );
  });
});
