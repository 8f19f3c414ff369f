// The sign-in / create-account screen: one form in two modes, checked in the
// browser first (the same rules as the server's) so mistakes are shown inline next
// to the field, then the server's answer mapped onto the field it is about.
// A link with a token (links.js) opens the form in its own mode: `setup`
// creates the first admin, `invite` signs up with an invite, `reset` chooses a
// new password (no name: the link names the account); each sends its token.

import { ApiError, login, register, resetPassword } from './api.js';
import { PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX, USERNAME_PATTERN, charCount } from './protocol.js';

/** Local-storage key of the last name signed in with in this browser (no secret: just the name). */
const LAST_USER_KEY = 'natter.lastUser';

/**
 * Remembers that this browser has signed in, and as whom, so the next visit
 * after signing out opens on "Sign in" with the name filled in, never on the
 * sign-up form (where a returning user's password would meet "name taken").
 */
export function rememberSignedIn(name) {
  try {
    localStorage.setItem(LAST_USER_KEY, name);
  } catch {
    // Storage disabled: the form just starts on Sign in with an empty name.
  }
}

function lastSignedIn() {
  try {
    return localStorage.getItem(LAST_USER_KEY) || '';
  } catch {
    return '';
  }
}

const MODES = {
  login: {
    title: 'Sign in to natter',
    lead: 'Welcome back. Sign in with the username and password you chose.',
    submit: 'Sign in',
    busy: 'Signing in…',
    switchText: 'New here?',
    switchButton: 'Create an account',
    passwordAutocomplete: 'current-password',
  },
  register: {
    title: 'Create your natter account',
    lead: 'New to this workspace? Pick a username and a password; you will sign in with them from now on.',
    submit: 'Create account',
    busy: 'Creating account…',
    switchText: 'Already have an account?',
    switchButton: 'Sign in',
    passwordAutocomplete: 'new-password',
  },
  // The link modes. `leave` is the way back to the plain forms (the link is dropped).
  setup: {
    title: 'Create the admin account',
    lead: 'This link sets up the workspace: the account you create here is its first admin. The link works once.',
    submit: 'Create admin account',
    busy: 'Creating account…',
    switchText: 'Already have an account?',
    switchButton: 'Sign in',
    passwordAutocomplete: 'new-password',
    link: true,
  },
  invite: {
    title: 'Create your natter account',
    lead: 'You were invited to this workspace. Pick a username and a password; you will sign in with them from now on.',
    submit: 'Create account',
    busy: 'Creating account…',
    switchText: 'Already have an account?',
    switchButton: 'Sign in',
    passwordAutocomplete: 'new-password',
    link: true,
  },
  reset: {
    title: 'Choose a new password',
    lead: 'An admin sent you this link to set a new password. Saving it signs you in here and ends your other sessions.',
    submit: 'Save password and sign in',
    busy: 'Saving…',
    switchText: 'Remembered it?',
    switchButton: 'Sign in',
    passwordAutocomplete: 'new-password',
    passwordLabel: 'New password',
    noUsername: true,
    link: true,
  },
};

export function validateUsername(name) {
  if (name.length === 0) return 'Enter a username.';
  if (charCount(name) > USERNAME_MAX) return `Usernames are at most ${USERNAME_MAX} characters.`;
  if (!USERNAME_PATTERN.test(name)) return 'Use only letters, digits, and _ . - (no spaces or symbols).';
  return '';
}

export function validatePassword(password, mode) {
  if (password.length === 0) return 'Enter a password.';
  if (mode === 'register' && charCount(password) < PASSWORD_MIN) return `Passwords need at least ${PASSWORD_MIN} characters.`;
  if (charCount(password) > PASSWORD_MAX) return `Passwords are at most ${PASSWORD_MAX} characters.`;
  return '';
}

export class AuthScreen {
  /**
   * @param {(user: object) => void} onSignedIn
   * @param {{onLeaveLink?: () => void}} options `onLeaveLink`: the person chose
   *   to sign in instead of using the link they opened
   */
  constructor(root, onSignedIn, { onLeaveLink = () => this.show() } = {}) {
    this.root = root;
    this.onSignedIn = onSignedIn;
    this.onLeaveLink = onLeaveLink;
    /** The link this form was opened with ({kind, token}), or null. */
    this.link = null;
    this.form = root.querySelector('#auth-form');
    this.title = root.querySelector('#auth-title');
    this.lead = root.querySelector('#auth-lead');
    this.username = root.querySelector('#auth-username');
    this.password = root.querySelector('#auth-password');
    this.usernameField = this.username.closest('.field');
    this.passwordLabel = root.querySelector('label[for="auth-password"]');
    this.usernameError = root.querySelector('#auth-username-error');
    this.passwordError = root.querySelector('#auth-password-error');
    this.formError = root.querySelector('#auth-error');
    this.notice = root.querySelector('#auth-notice');
    this.submit = root.querySelector('#auth-submit');
    this.switchText = root.querySelector('#auth-switch-text');
    this.switchButton = root.querySelector('#auth-switch');
    this.mode = 'login';
    this.busy = false;

    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitForm();
    });
    this.switchButton.addEventListener('click', () => {
      if (this.link) {
        this.link = null;
        this.onLeaveLink();
        return;
      }
      this.setMode(this.mode === 'login' ? 'register' : 'login');
      this.username.focus();
    });
    // Clear a field's error as soon as it is edited: the message is stale then.
    this.username.addEventListener('input', () => this.setFieldError(this.username, this.usernameError, ''));
    this.password.addEventListener('input', () => this.setFieldError(this.password, this.passwordError, ''));
    this.setMode('login');
  }

  show(notice = '') {
    this.root.hidden = false;
    // The plain forms: a link's form is shown by showLink only.
    this.link = null;
    if (MODES[this.mode].link) this.setMode('login');
    // A browser that has signed in before is most likely a returning user.
    const returning = lastSignedIn();
    if (returning) {
      this.setMode('login');
      if (!this.username.value) this.username.value = returning;
    }
    this.notice.textContent = notice;
    this.notice.hidden = !notice;
    this.password.value = '';
    this.busy = false;
    this.submit.disabled = false;
    this.submit.textContent = MODES[this.mode].submit;
    document.title = 'natter';
    if (returning && this.username.value) this.password.focus();
    else this.username.focus();
  }

  hide() {
    this.root.hidden = true;
  }

  /** Opens the form of a link (links.js): `{kind: 'setup' | 'invite' | 'reset', token}`. */
  showLink(link) {
    this.root.hidden = false;
    this.link = link;
    this.setMode(link.kind);
    this.notice.textContent = '';
    this.notice.hidden = true;
    this.username.value = '';
    this.password.value = '';
    this.busy = false;
    this.submit.disabled = false;
    document.title = 'natter';
    (MODES[link.kind].noUsername ? this.password : this.username).focus();
  }

  setMode(mode) {
    this.mode = mode;
    const text = MODES[mode];
    this.title.textContent = text.title;
    this.lead.textContent = text.lead;
    this.submit.textContent = text.submit;
    this.switchText.textContent = text.switchText;
    this.switchButton.textContent = text.switchButton;
    this.password.autocomplete = text.passwordAutocomplete;
    this.passwordLabel.textContent = text.passwordLabel || 'Password';
    this.usernameField.hidden = Boolean(text.noUsername);
    this.form.dataset.mode = mode;
    this.setFieldError(this.username, this.usernameError, '');
    this.setFieldError(this.password, this.passwordError, '');
    this.formError.textContent = '';
  }

  setFieldError(input, output, message) {
    output.textContent = message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  async submitForm() {
    if (this.busy) return;
    const text = MODES[this.mode];
    const username = text.noUsername ? '' : this.username.value.trim();
    const password = this.password.value;
    const usernameProblem = text.noUsername ? '' : validateUsername(username);
    // Every form but sign-in chooses a password, so the rules for a new one apply.
    const passwordProblem = validatePassword(password, this.mode === 'login' ? 'login' : 'register');
    this.setFieldError(this.username, this.usernameError, usernameProblem);
    this.setFieldError(this.password, this.passwordError, passwordProblem);
    this.formError.textContent = '';
    if (usernameProblem) return this.username.focus();
    if (passwordProblem) return this.password.focus();

    this.busy = true;
    this.submit.disabled = true;
    this.submit.textContent = MODES[this.mode].busy;
    try {
      const user = await this.send(username, password);
      this.password.value = '';
      // A link works once: whatever comes next starts from the plain forms.
      this.link = null;
      this.onSignedIn(user);
    } catch (error) {
      this.showServerError(error);
    } finally {
      this.busy = false;
      this.submit.disabled = false;
      this.submit.textContent = MODES[this.mode].submit;
    }
  }

  /** The request of the current mode; resolves with the signed-in user. */
  send(username, password) {
    switch (this.mode) {
      case 'login':
        return login(username, password);
      case 'register':
        return register(username, password);
      case 'setup':
      case 'invite':
        return register(username, password, this.link.token);
      case 'reset':
        return resetPassword(this.link.token, password);
      default:
        throw new Error(`no such form: ${this.mode}`);
    }
  }

  showServerError(error) {
    const code = error instanceof ApiError ? error.code : 'network';
    switch (code) {
      case 'name_taken':
      case 'name_in_use':
        this.setFieldError(this.username, this.usernameError, error.message || 'That username is taken. Pick another one.');
        this.username.focus();
        break;
      case 'invalid_username':
        this.setFieldError(this.username, this.usernameError, error.message || 'That username is not allowed.');
        this.username.focus();
        break;
      case 'invalid_password':
        this.setFieldError(this.password, this.passwordError, error.message || 'That password is not allowed.');
        this.password.focus();
        break;
      case 'invalid_credentials':
        this.formError.textContent = 'Wrong username or password.';
        this.password.select();
        this.password.focus();
        break;
      case 'deactivated':
        // The right password of an account an admin deactivated: retyping it
        // cannot help, so the server's reason is shown as it says it.
        this.formError.textContent = error.message || 'This account was deactivated by an admin.';
        break;
      case 'registration_closed':
      case 'invalid_invite':
      case 'invalid_reset':
        // The server says which (no invite where one is needed, a link that
        // is unknown, used or expired) in words meant for the person.
        this.formError.textContent = error.message || 'This link cannot be used.';
        break;
      case 'rate_limited':
        this.formError.textContent = 'Too many attempts. Wait a minute and try again.';
        break;
      case 'network':
        this.formError.textContent = 'Cannot reach the server. Check your connection and try again.';
        break;
      default:
        this.formError.textContent = error.message || 'Something went wrong. Try again.';
    }
  }
}
