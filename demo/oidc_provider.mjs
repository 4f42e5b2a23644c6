// A real OpenID provider for the demo and the tests (npm `oidc-provider`), on 127.0.0.1 at the
// port given. Usage: node demo/oidc_provider.mjs CONFIG.json, where CONFIG has `port`, `jwks`
// (the private signing keys), `clients` ({client_id, redirect_uris, post_logout_redirect_uris}),
// `accounts` (sub -> {password, acr, claims}), `acr_values` and `cookie_key`. Prints
// `ready <issuer>` once it listens.
// The login page is a plain form (login, password): the tests and Playwright fill it in.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const accounts = config.accounts;

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
    token_endpoint_auth_method: 'none',
    response_types: ['code'],
    grant_types: ['authorization_code'],
  })),
  jwks: config.jwks,
  cookies: { keys: [config.cookie_key] },
  pkce: { required: () => true, methods: ['S256'] },
  claims: {
    acr: null, auth_time: null, sid: null, openid: ['sub'], profile: ['name', 'functie'],
  },
  acrValues: config.acr_values,
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    // RP-Initiated Logout: the web app sends the browser here, the person confirms.
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = `<!doctype html><html lang="nl"><head><title>Uitloggen</title></head>
<body><main><h1>Uitloggen bij de testprovider</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Uitloggen</button>
</main></body></html>`;
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, sub) => (accounts[sub]
    ? { accountId: sub, claims: async () => ({ sub, ...accounts[sub].claims }) }
    : undefined),
  ttl: { IdToken: config.id_token_ttl ?? 600 },
});

const page = (uid, error) => `<!doctype html><html lang="nl"><head><title>Inloggen</title></head>
<body><main><h1>Inloggen bij de testprovider</h1>${error ? `<p role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}">
<label>Gebruikersnaam <input name="login" autocomplete="username"></label>
<label>Wachtwoord <input name="password" type="password"></label>
<button type="submit">Inloggen</button></form></main></body></html>`;

const body = (req) => new Promise((resolve, reject) => {
  let data = '';
  req.on('data', (chunk) => { data += chunk; });
  req.on('end', () => resolve(data));
  req.on('error', reject);
});

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (/^\/interaction\/[^/]+$/.test(url.pathname)) {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'POST') {
        const form = new URLSearchParams(await body(req));
        const sub = form.get('login') ?? '';
        const account = accounts[sub];
        if (account && account.password === form.get('password')) {
          const grant = new provider.Grant({ accountId: sub, clientId: details.params.client_id });
          grant.addOIDCScope(details.params.scope);
          const grantId = await grant.save();
          const login = { accountId: sub, ...(account.acr ? { acr: account.acr } : {}) };
          await provider.interactionFinished(
            req, res, { login, consent: { grantId } }, { mergeWithLastSubmission: false },
          );
          return;
        }
        res.statusCode = 401;
      }
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page(details.uid, req.method === 'POST' ? 'Onjuiste gebruikersnaam of wachtwoord' : ''));
      return;
    }
    provider.callback()(req, res);
  } catch (error) {
    res.statusCode = 400;
    res.end(`error: ${error.name}`);
  }
});
server.listen(config.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
