package report

// css is the page's style: readable from 390 px wide up (long rules
// wrap, the graph scales down), printable (the search box, samples and
// sources stay off paper), and the rows of big rulesets are only laid
// out when they come into view.
const css = `
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fff;overflow-wrap:anywhere}
header,main{padding:0 12px;max-width:1400px;margin:0 auto}
h1{font-size:20px;margin:12px 0 4px}h2{font-size:17px;margin:18px 0 6px}h3{font-size:15px;margin:10px 0 2px}
nav ul{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 12px}
input#q{font:inherit;padding:3px 6px;width:22em;max-width:100%}
code,pre{font:12.5px/1.35 ui-monospace,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;margin:4px 0;background:#f6f6f4;padding:6px;overflow-x:auto}
.graph{max-width:100%;overflow:hidden;border:1px solid #ddd;background:#fcfcfa}
.graph svg{display:block;max-width:100%;height:auto}
svg text{font:12px system-ui,sans-serif;fill:#1a1a1a}svg text.sub{font-size:10.5px;fill:#555}svg text.el{font-size:10px;fill:#666}
svg rect{fill:#fff;stroke:#777;stroke-width:1.2}
.node.hook rect{fill:#eef;stroke:#66a}.node.group rect{fill:#fff7e0;stroke:#b80;stroke-dasharray:4 2}
a.node:hover rect,.node.focus rect{stroke:#c00;stroke-width:2.5}
path.e{fill:none;stroke:#888;stroke-width:1.1}path.goto{stroke-dasharray:5 3}marker path{fill:#888}
section.chain{content-visibility:auto;contain-intrinsic-size:auto 120px;border-top:1px solid #e4e4e4;padding:2px 0}
section.chain:target,section.chain.focus{background:#fff8d6;outline:2px solid #e0b000}
.r,.pr{padding:2px 0 2px 4px;border-left:3px solid transparent}
.r>*,.pr>*{margin-right:.5em}
.r code{white-space:pre-wrap;overflow-wrap:anywhere}
.r code[data-pos]::after{content:"  " attr(data-pos);font:12px system-ui,sans-serif;color:#666}
.r:target,.pr:target{background:#fff3b0;border-left-color:#e0a000}
.r.never{border-left-color:#c33}
.r>a:first-child{display:inline-block;min-width:2.2em;text-align:right;color:#666;text-decoration:none}
.r>i,.pr>i{display:inline-block;min-width:3.5em;text-align:right;font-style:normal;color:#245;font-variant-numeric:tabular-nums}
.r>code+a{font-size:12px;color:#666}
.b{display:inline-block;font-size:12px;padding:0 5px;border-radius:3px;margin:1px 0;background:#eee}
.b.nothing{background:#e8eef8;color:#234}.b.warning{background:#fff0c8}.b.error{background:#fdd}.b.neverb{background:#fdd;color:#700}
.funnel{margin:2px 0;color:#333}.from{margin:2px 0;font-size:12.5px;color:#555}
.pol{font-weight:normal;color:#555}
.rows.head{margin:4px 0 8px}
.samples summary,.group summary,.src summary{cursor:pointer;color:#245}
.sample{border-left:2px solid #ccd;padding-left:8px;margin:4px 0}
.cmd code{background:#f0f0ea;padding:1px 3px}
ul.members{columns:18em;font-size:13px}
.search{margin:6px 0}
[hidden]{display:none!important}
@media print{.search,noscript,.copy,.samples,#sources,nav{display:none}section.chain{content-visibility:visible}.graph{break-inside:avoid}body{font-size:11px}}
`

// script is the page's only script, a constant: search, focus on
// click and anchor, opening what an anchor points into, copy buttons.
// Nothing from the ruleset is ever written into it; it reads the page.
const script = `
(function(){
var rows=null,texts=null,q=document.getElementById('q'),qn=document.getElementById('qn');
function index(){if(rows)return;rows=Array.prototype.slice.call(document.querySelectorAll('.r'));texts=rows.map(function(r){var c=r.querySelector('code');return (c?c.textContent:'').toLowerCase()})}
var timer=0;
function search(){index();var s=q.value.trim().toLowerCase(),n=0,secs=new Map();
for(var i=0;i<rows.length;i++){var hit=!s||texts[i].indexOf(s)>=0;rows[i].hidden=!hit;if(hit)n++;
var sec=rows[i].closest('section.chain');if(sec){secs.set(sec,(secs.get(sec)||false)||hit)}}
secs.forEach(function(v,sec){sec.hidden=!!s&&!v});
document.querySelectorAll('section.chain').forEach(function(sec){if(!secs.has(sec))sec.hidden=!!s});
qn.textContent=s?n+' of '+rows.length+' rows':''}
if(q)q.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(search,rows&&rows.length>5000?120:0)});
function focus(){var id=decodeURIComponent(location.hash.slice(1));
document.querySelectorAll('.focus').forEach(function(e){e.classList.remove('focus')});
if(!id)return;var el=document.getElementById(id);
document.querySelectorAll('[data-node]').forEach(function(n){if(n.getAttribute('data-node')===id)n.classList.add('focus')});
if(!el)return;el.classList.add('focus');
for(var p=el;p;p=p.parentElement){if(p.tagName==='DETAILS')p.open=true;if(p.hidden)p.hidden=false}
el.scrollIntoView({block:'start'})}
window.addEventListener('hashchange',focus);if(location.hash)focus();
document.addEventListener('click',function(e){var b=e.target.closest('button.copy');if(!b)return;
var c=b.parentElement.querySelector('code');if(c&&navigator.clipboard){navigator.clipboard.writeText(c.textContent);b.textContent='copied'}});
})();
`
