// A real OpenID provider for tests/test_oidc.py: panva/node-oidc-provider with
// its development login and consent forms (any login name is accepted; the
// password is ignored). Loopback only.
//
//   node provider.mjs <port> <config.json>
//
// config.json: {"client_id", "client_secret", "redirect_uris": [...],
//               "groups": {"<login>": ["g1", ...]}}
// The issuer is http://127.0.0.1:<port>. It prints "listening <issuer>" when ready.
import Provider from 'oidc-provider';
import { readFileSync } from 'node:fs';

const port = Number(process.argv[2]);
const cfg = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: cfg.client_id,
    client_secret: cfg.client_secret,
    redirect_uris: cfg.redirect_uris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // The end-user claims of the granted scopes go into the ID token too (the
  // relying party reads the ID token, not /userinfo).
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
  scopes: ['openid', 'email', 'groups'],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, groups: (cfg.groups || {})[id] || [] };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AuthorizationCode: 60, IdToken: 600, AccessToken: 600 },
  cookies: { keys: ['coffer-test-cookie-key'] },
});
// No "insecure issuer" noise in the test output.
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
