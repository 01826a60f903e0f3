(function () {
  'use strict';
  var banner = document.getElementById('cookie-banner');
  if (banner && window.localStorage.getItem('cookies-accepted') === '1') { banner.style.display = 'none'; }
  document.addEventListener('click', function (e) {
    if (e.target && e.target.closest('#cookie-banner button')) {
      window.localStorage.setItem('cookies-accepted', '1');
      banner.style.display = 'none';
    }
  });
})();
