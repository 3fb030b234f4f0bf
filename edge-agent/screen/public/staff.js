// The staff page: sign in with the PIN, then act on the lane. What staff type
// for a registration is sent once, over the agent's own connection, and the
// form is cleared at once: nothing personal stays in the page.
const $ = (id) => document.getElementById(id);

function say(kind, bilingual) {
  const other = kind === 'error' ? 'notice' : 'error';
  $(other).hidden = true;
  const element = $(kind);
  element.hidden = !bilingual;
  element.textContent = bilingual ? `${bilingual.zh} · ${bilingual.en}` : '';
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const payload = await response.json().catch(() => ({ error: { zh: '无效的响应', en: 'Invalid response' } }));
  return { status: response.status, payload };
}

function showDesk(state) {
  follow(true);
  $('sign-in').hidden = true;
  $('desk').hidden = false;
  $('sign-out').hidden = false;
  $('where').textContent = `工作人员 · Staff — ${state.site} · ${state.lane}`;
  const view = state.view;
  $('phase').textContent = `${view.headline.zh} · ${view.headline.en}`;
  $('reason').textContent = view.message ? `${view.message.zh} · ${view.message.en}` : '';
  document.body.dataset.phase = view.phase;
  $('no-code').disabled = !state.can.noCode;
  $('release').disabled = !state.can.release;
  $('resume').disabled = !state.can.resume;
  $('register').hidden = !state.can.register;
  $('temperature').hidden = !state.can.temperature;
}

function showSignIn() {
  follow(false);
  $('sign-in').hidden = false;
  $('desk').hidden = true;
  $('sign-out').hidden = true;
}

async function refresh() {
  const { status, payload } = await call('GET', '/staff/state');
  if (status === 200) showDesk(payload);
  else showSignIn();
}

async function act(path, body) {
  const { status, payload } = await call('POST', path, body);
  if (status === 401) {
    showSignIn();
    say('error', payload.error);
    return false;
  }
  if (payload.view) showDesk(payload);
  if (status !== 200) {
    say('error', payload.error);
    return false;
  }
  say('error', null);
  return true;
}

$('sign-in').addEventListener('submit', async (event) => {
  event.preventDefault();
  const pin = $('pin').value;
  $('pin').value = '';
  const { status, payload } = await call('POST', '/staff/sign-in', { pin });
  if (status === 200) {
    say('error', null);
    showDesk(payload);
  } else say('error', payload.error);
});
$('sign-out').addEventListener('click', async () => {
  await call('POST', '/staff/sign-out');
  showSignIn();
});
$('no-code').addEventListener('click', () => act('/staff/no-code'));
$('release').addEventListener('click', () => act('/staff/release'));
$('resume').addEventListener('click', () => act('/staff/resume'));
$('register').addEventListener('submit', async (event) => {
  event.preventDefault();
  const details = { name: $('name').value, nationalId: $('national-id').value, phone: $('phone').value };
  if (await act('/staff/register', details)) {
    for (const id of ['name', 'national-id', 'phone']) $(id).value = '';
    say('notice', { zh: '已登记', en: 'Registered' });
  }
});
$('temperature').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (await act('/staff/temperature', { celsius: Number($('celsius').value) })) $('celsius').value = '';
});

// The lane moves on its own (people, the centre): follow it while signed in.
let events = null;
function follow(on) {
  if (on && !events) {
    events = new EventSource('/staff/events');
    events.addEventListener('view', () => refresh());
    // Refused (the session ended, or too many staff pages): the stream is closed for good; the next refresh
    // shows the sign-in or opens it again, a second later so that a refusal is not answered by a burst of retries.
    events.addEventListener('error', () => {
      if (events && events.readyState === EventSource.CLOSED) {
        events = null;
        setTimeout(refresh, 1000);
      }
    });
  } else if (!on && events) {
    events.close();
    events = null;
  }
}
refresh();
