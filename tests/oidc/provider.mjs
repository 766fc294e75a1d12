// A real OpenID Provider for the gateway's sign-in tests: `oidc-provider` (certified) with its
// development interactions (a login page taking any login and password; the account id is the
// login), one client for the gateway, PKCE (S256), RS256 ID tokens carrying
// {sub, name, email, groups}.
//
// Usage: node provider.mjs  (configuration from the environment)
//   OIDC_REDIRECT_URIS       space-separated redirect URIs of the gateway (required)
//   OIDC_POST_LOGOUT_URIS    space-separated post-logout redirect URIs (optional)
//   OIDC_CLIENT_ID           default "pgsage-gateway"
//   OIDC_CLIENT_SECRET       empty for a public client (token endpoint auth "none")
//   OIDC_GROUPS              JSON {login: [groups]}; otherwise groups come from the login:
//                            "rita-reviewer" -> ["reviewers"], "otto-operator" -> ["operators"]
//   OIDC_ID_TOKEN_TTL        seconds an ID token lives (default 3600)
// Prints one line `issuer=http://127.0.0.1:PORT` on stdout once it listens on a free port.
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";

import Provider from "oidc-provider";

const env = process.env;
const redirectUris = (env.OIDC_REDIRECT_URIS || "").split(/\s+/).filter(Boolean);
if (!redirectUris.length) {
  console.error("OIDC_REDIRECT_URIS is required");
  process.exit(2);
}
const postLogoutUris = (env.OIDC_POST_LOGOUT_URIS || "").split(/\s+/).filter(Boolean);
const clientId = env.OIDC_CLIENT_ID || "pgsage-gateway";
const clientSecret = env.OIDC_CLIENT_SECRET || "";
const groupMap = env.OIDC_GROUPS ? JSON.parse(env.OIDC_GROUPS) : {};
const idTokenTtl = Number(env.OIDC_ID_TOKEN_TTL || 3600);

// "rita-reviewer" -> "reviewers", "ada-admin" -> "admins": the part after the last dash, plural.
function groupsOf(login) {
  if (groupMap[login]) return groupMap[login];
  const role = login.includes("-") ? login.slice(login.lastIndexOf("-") + 1) : "";
  return role ? [`${role}s`] : [];
}

function titleCase(login) {
  return login
    .split("-")[0]
    .replace(/^./, (c) => c.toUpperCase());
}

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "test-rs256", use: "sig", alg: "RS256" };

const server = createServer();
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const client = {
    client_id: clientId,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutUris,
    response_types: ["code"],
    grant_types: ["authorization_code", "refresh_token"],
    id_token_signed_response_alg: "RS256",
    ...(clientSecret
      ? { client_secret: clientSecret, token_endpoint_auth_method: "client_secret_basic" }
      : { token_endpoint_auth_method: "none" }),
  };
  const provider = new Provider(issuer, {
    clients: [client],
    jwks: { keys: [signingKey] },
    pkce: { required: () => true },
    scopes: ["openid", "offline_access", "profile", "email", "groups"],
    claims: {
      openid: ["sub"],
      profile: ["name"],
      email: ["email"],
      groups: ["groups"],
    },
    // The claims go into the ID token itself: it is what the gateway forwards to the job service.
    conformIdTokenClaims: false,
    // A refresh token for every code grant of a client allowed to refresh (no offline_access
    // dance needed), so the gateway's refresh path is exercised.
    issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed("refresh_token"),
    ttl: { IdToken: idTokenTtl, AccessToken: idTokenTtl },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    // Skip the consent screen for the first-party gateway: grant what it asks for.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope("openid offline_access profile email groups");
      grant.addOIDCClaims(["sub", "name", "email", "groups"]);
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx, sub) => ({
      accountId: sub,
      async claims() {
        return {
          sub,
          name: titleCase(sub),
          email: `${sub}@example.test`,
          groups: groupsOf(sub),
        };
      },
    }),
  });
  provider.on("server_error", (_ctx, err) => console.error("server_error", err));
  server.on("request", provider.callback());
  console.log(`issuer=${issuer}`);
});

function stop() {
  server.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
