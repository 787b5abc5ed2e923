import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { invalidFields } from '../api/api-error';
import { unwrap, type ApiClient } from '../api/client';
import { Button, ErrorNotice, TextField } from '../components/ui';

/** Who signed in. */
export interface SignedInUser {
  readonly id: string;
  readonly email: string;
  readonly displayName: string;
}

/** What the sign-in page needs: the client, the login link's token when the page was opened from one, and what to do after. */
export interface SignInProps {
  readonly client: ApiClient;
  readonly loginToken?: string | undefined;
  readonly onSignedIn: (user: SignedInUser) => void;
}

/**
 * Sign in: with the one-time login link the page was opened from (one click,
 * so a link preview that fetches the page does not use it up), or by pasting
 * a personal access token.
 */
export function SignIn({ client, loginToken, onSignedIn }: SignInProps) {
  const [token, setToken] = useState('');
  const signIn = useMutation({
    mutationFn: (body: { loginToken: string } | { token: string }) => unwrap(client.POST('/console/sessions', { body })),
    onSuccess: (session) => onSignedIn(session.user),
  });
  const fields = invalidFields(signIn.error);
  const submitToken = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate({ token: token.trim() });
  };
  return (
    <main className="sign-in">
      <h1>Sign in to Data Machine</h1>
      <ErrorNotice error={signIn.error} />
      {loginToken !== undefined && (
        <section className="section">
          <p>You opened a one-time login link.</p>
          <Button variant="primary" disabled={signIn.isPending} onClick={() => signIn.mutate({ loginToken })}>
            Sign in with this link
          </Button>
        </section>
      )}
      <form className="section" onSubmit={submitToken} aria-label="Sign in with a token">
        <TextField
          label="Personal access token"
          name="token"
          type="password"
          autoComplete="off"
          placeholder="dmpt_…"
          value={token}
          onChange={(event) => setToken(event.target.value)}
          error={fields.get('token')}
          hint="Or run: data-machine login-link --as <your email>"
          required
        />
        <Button type="submit" variant={loginToken === undefined ? 'primary' : 'quiet'} disabled={signIn.isPending || token.trim() === ''}>
          Sign in with token
        </Button>
      </form>
    </main>
  );
}
