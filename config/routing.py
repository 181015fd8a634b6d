from django.urls import path

from restoration.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/<str:topic>/", LiveConsumer.as_asgi()),
]
