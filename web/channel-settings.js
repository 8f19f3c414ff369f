// The channel settings dialog (docs/protocol.md, "Channel settings"), opened
// from the channel menu: rename, topic and description, archive (after a
// confirm step) and unarchive. Each part is its own `update_channel`, because
// the server checks the whole request at once: a rename refused to a
// non-creator must not take the topic typed beside it down with it. Who may
// do what is the server's to decide, so every part is offered and a refusal
// is shown beside the part, in the server's own words where it gives them.
// While the dialog is open it follows the channel's live changes (someone
// else renames or archives it), leaving alone what the user is typing.

import { validateChannelName } from './dialogs.js';
import { channelLabel } from './format.js';
import { DESCRIPTION_MAX, TOPIC_MAX, charCount, errorText, frames, hasControlChars } from './protocol.js';

/**
 * What a refused change means, for the person in the dialog. The server's
 * message says why a change is `forbidden` ("only its creator or an admin may
 * rename a channel") or a field `bad_request` better than any generic text.
 */
export function settingsRefusal(failure, typedName = '') {
  const said = failure.message && failure.message !== failure.code ? failure.message : '';
  if ((failure.code === 'forbidden' || failure.code === 'bad_request') && said) return sentence(said);
  if (failure.code === 'channel_exists') return `A channel named “${typedName}” already exists.`;
  if (failure.code === 'invalid_name') return said ? `That name cannot be used: ${said}.` : errorText('invalid_name');
  return errorText(failure.code, said);
}

/** "only its creator may" -> "Only its creator may." */
function sentence(text) {
  const first = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** What is wrong with a topic or description before asking the server; '' when nothing is. */
export function aboutProblems(topic, description) {
  const problems = { topic: '', description: '' };
  if (charCount(topic) > TOPIC_MAX) problems.topic = `A topic is at most ${TOPIC_MAX} characters; this one has ${charCount(topic)}.`;
  else if (hasControlChars(topic)) problems.topic = 'A topic is one line, without control characters.';
  if (charCount(description) > DESCRIPTION_MAX) problems.description = `A description is at most ${DESCRIPTION_MAX} characters; this one has ${charCount(description)}.`;
  return problems;
}

/**
 * @param {object} app
 * @param {import('./store.js').ChatStore} app.store
 * @param {(frame: object, timeoutMs?: number) => Promise<object>} app.request a request on the current connection
 * @param {(text: string) => void} app.toast
 * @returns {{open: () => void}}
 */
export function channelSettingsDialog({ store, request, toast }) {
  const $ = (id) => document.getElementById(id);
  const dialog = $('settings-dialog');
  const heading = $('settings-title');
  const archivedNotice = $('settings-archived');
  const nameForm = $('settings-name-form');
  const name = $('settings-name');
  const nameError = $('settings-name-error');
  const nameDone = $('settings-name-done');
  const aboutForm = $('settings-about-form');
  const topic = $('settings-topic');
  const topicError = $('settings-topic-error');
  const description = $('settings-description');
  const descriptionError = $('settings-description-error');
  const aboutDone = $('settings-about-done');
  const archivePart = $('settings-archive-part');
  const archiveButton = $('settings-archive');
  const confirm = $('settings-archive-confirm');
  const confirmCancel = $('settings-archive-cancel');
  const confirmYes = $('settings-archive-yes');
  const unarchivePart = $('settings-unarchive-part');
  const unarchiveButton = $('settings-unarchive');
  const archiveError = $('settings-archive-error');

  /** The channel the dialog is open for (its id: the channel object may be replaced). */
  let channelId = null;
  /** What each field showed when filled: a field still showing it follows live changes. */
  let shown = { name: '', topic: '', description: '' };

  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  name.addEventListener('input', () => {
    setError(name, nameError, '');
    nameDone.textContent = '';
  });
  topic.addEventListener('input', () => {
    setError(topic, topicError, '');
    aboutDone.textContent = '';
  });
  description.addEventListener('input', () => {
    setError(description, descriptionError, '');
    aboutDone.textContent = '';
  });

  function setError(input, output, message) {
    output.textContent = message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  /** Sends one change of the open channel; resolves with the channel as it stands, or throws the refusal. */
  async function change(fields) {
    const reply = await request(frames.updateChannel(channelId, fields));
    // The live copy of this frame (without ref) updates the store too; both say the same.
    return store.applyChannelUpdated(reply) ?? reply;
  }

  nameForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const channel = store.channel(channelId);
    if (!channel) return;
    const typed = name.value.trim();
    const problem = validateChannelName(name.value) || (typed === channel.name ? 'That is its name already.' : '');
    setError(name, nameError, problem);
    if (problem) return name.focus();
    const submit = nameForm.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      const now = await change({ name: typed });
      shown.name = now.name;
      name.value = now.name;
      nameDone.textContent = `Renamed to ${channelLabel(now.name)}.`;
    } catch (failure) {
      setError(name, nameError, settingsRefusal(failure, typed));
      name.focus();
    } finally {
      submit.disabled = store.channel(channelId)?.archived ?? false;
    }
  });

  aboutForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const channel = store.channel(channelId);
    if (!channel) return;
    const fields = {};
    // Only what was changed goes: the other field may have been changed by
    // someone else meanwhile, and sending it back would undo that.
    if (topic.value.trim() !== channel.topic) fields.topic = topic.value.trim();
    if (description.value.trim() !== channel.description) fields.description = description.value.trim();
    const problems = aboutProblems(fields.topic ?? '', fields.description ?? '');
    setError(topic, topicError, problems.topic);
    setError(description, descriptionError, problems.description);
    if (problems.topic) return topic.focus();
    if (problems.description) return description.focus();
    if (!Object.keys(fields).length) {
      aboutDone.textContent = 'Nothing to save: the topic and description are as shown.';
      return;
    }
    const submit = aboutForm.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      const now = await change(fields);
      shown.topic = topic.value = now.topic ?? '';
      shown.description = description.value = now.description ?? '';
      aboutDone.textContent = 'Saved.';
    } catch (failure) {
      const field = 'description' in fields && !('topic' in fields) ? description : topic;
      setError(field, field === topic ? topicError : descriptionError, settingsRefusal(failure));
      field.focus();
    } finally {
      submit.disabled = store.channel(channelId)?.archived ?? false;
    }
  });

  // Archiving takes two steps: the first only says what it means.
  archiveButton.addEventListener('click', () => {
    archiveError.textContent = '';
    archivePart.hidden = true;
    confirm.hidden = false;
    confirmCancel.focus();
  });
  confirmCancel.addEventListener('click', () => {
    confirm.hidden = true;
    archivePart.hidden = false;
    archiveButton.focus();
  });
  confirmYes.addEventListener('click', () => setArchived(true, confirmYes));
  unarchiveButton.addEventListener('click', () => setArchived(false, unarchiveButton));

  async function setArchived(archived, button) {
    const channel = store.channel(channelId);
    if (!channel) return;
    const label = channelLabel(channel.name);
    button.disabled = true;
    archiveError.textContent = '';
    try {
      await change({ archived });
      dialog.close();
      toast(archived ? `${label} is archived: read-only. Its history stays readable.` : `${label} is unarchived: its members can post again.`);
    } catch (failure) {
      archiveError.textContent = settingsRefusal(failure);
      confirm.hidden = true;
      sync();
      (archived ? archiveButton : unarchiveButton).focus();
    } finally {
      button.disabled = false;
    }
  }

  /** Shows the channel as it stands now; fields the user has changed keep what they typed. */
  function sync() {
    const channel = store.channel(channelId);
    if (!channel) {
      // Left or lost meanwhile: there is nothing left to set.
      if (dialog.open) dialog.close();
      return;
    }
    heading.textContent = `Settings of ${channelLabel(channel.name)}`;
    for (const [field, input] of [['name', name], ['topic', topic], ['description', description]]) {
      if (input.value === shown[field]) input.value = channel[field];
      shown[field] = channel[field];
    }
    archivedNotice.hidden = !channel.archived;
    // Nothing but unarchiving changes an archived channel (the server says `archived`).
    for (const control of [...nameForm.elements, ...aboutForm.elements]) control.disabled = channel.archived;
    if (channel.archived) confirm.hidden = true;
    archivePart.hidden = channel.archived || !confirm.hidden;
    unarchivePart.hidden = !channel.archived;
  }

  store.addEventListener('change', (event) => {
    if (dialog.open && event.detail.what === 'channels') sync();
  });

  return {
    open() {
      const channel = store.current;
      if (!channel || channel.kind === 'dm') return;
      channelId = channel.id;
      shown = { name: channel.name, topic: channel.topic, description: channel.description };
      name.value = channel.name;
      topic.value = channel.topic;
      description.value = channel.description;
      for (const [input, output] of [[name, nameError], [topic, topicError], [description, descriptionError]]) setError(input, output, '');
      nameDone.textContent = aboutDone.textContent = archiveError.textContent = '';
      confirm.hidden = true;
      sync();
      dialog.showModal();
      (channel.archived ? unarchiveButton : topic).focus();
    },
  };
}
